/* clerk-render.js: renders Clerk contents for clerk.js, which loads it on demand (only on pages
   with something to render). One file, so such a page makes one more request, not two: the
   Liquid renderer, then contents, popups and exit intent, then the predictive search box. */
(function(){
'use strict';
var internal=window.Clerk&&window.Clerk._;
if(!internal||internal.renderer)return;
var {send,emit,warn,listen,randomId}=internal,
 hasOwn=(object,name)=>object!=null&&Object.prototype.hasOwnProperty.call(object,name);

// --- Liquid: Clerk's subset, output HTML-escaped like python-liquid with autoescape --------
// Only own properties are read (no constructor, no __proto__); loops and output are bounded.
// liquid(source, context, filters) returns HTML or throws on a design that does not parse
// or cannot render.
var ESCAPES={'&':'&amp;','<':'&lt;','>':'&gt;','"':'&#34;',"'":'&#39;'},
 EMPTY={},  // Liquid's `empty` and `blank` literals
 STOP={},  // thrown by break and continue
 LITERALS={true:true,false:false,nil:null,null:null,empty:EMPTY,blank:EMPTY},
 MAX_ITERATIONS=100000,MAX_OUTPUT=2000000,MAX_DEPTH=30;
function escapeHtml(text){return String(text).replace(/[&<>"']/g,c=>ESCAPES[c])}
// already-escaped text (the escape filter, captures): not escaped again on output
function Safe(text){this.text=text}
Safe.prototype.toString=function(){return this.text};
function text(value){
 if(value==null||value===EMPTY)return '';
 if(Array.isArray(value))return value.map(text).join('');
 return value instanceof Safe?value.text:String(value);
}
function number(value){
 var n=Number(text(value));
 return Number.isFinite(n)?n:0;
}
function isInteger(value){return Number.isInteger(number(value))&&!/\./.test(text(value))}
function fail(message){throw Error('Liquid: '+message)}
// money: two decimals rounded half away from zero, `,` thousands (money_eu: `.` thousands)
function money(value,eu){
 if(!(typeof value=='number'||typeof value=='string'&&value.trim()&&!isNaN(value))){
  return text(value);
 }
 var n=Number(value),
  fixed=(Math.sign(n)*Math.round(Number(Math.abs(n)+'e2'))/100).toFixed(2)
   .replace(/\B(?=(\d{3})+\.)/g,',');
 return eu?fixed.replace(/[,.]/g,c=>c==','?'.':','):fixed;
}
var FILTERS={
 upcase:v=>text(v).toUpperCase(),
 downcase:v=>text(v).toLowerCase(),
 capitalize:v=>(v=text(v)).charAt(0).toUpperCase()+v.slice(1).toLowerCase(),
 strip:v=>text(v).trim(),
 lstrip:v=>text(v).trimStart(),
 rstrip:v=>text(v).trimEnd(),
 append:(v,a)=>text(v)+text(a),
 prepend:(v,a)=>text(a)+text(v),
 replace:(v,a,b)=>text(v).split(text(a)).join(text(b)),
 replace_first:(v,a,b)=>text(v).replace(text(a),()=>text(b)),
 remove:(v,a)=>text(v).split(text(a)).join(''),
 remove_first:(v,a)=>text(v).replace(text(a),''),
 truncate:(v,n,end)=>{
  v=text(v);n=n==null?50:number(n);end=end==null?'...':text(end);
  return v.length<=n?v:v.slice(0,Math.max(n-end.length,0))+end;
 },
 truncatewords:(v,n,end)=>{
  var words=text(v).trim().split(/\s+/);
  n=Math.max(n==null?15:number(n),1);
  return words.length<=n?text(v):words.slice(0,n).join(' ')+(end==null?'...':text(end));
 },
 default:(v,a)=>v==null||v===false||v===''||v===EMPTY||Array.isArray(v)&&!v.length?a:v,
 join:(v,a)=>Array.isArray(v)?v.map(text).join(a==null?' ':text(a)):text(v),
 split:(v,a)=>text(v).split(text(a)),
 size:v=>typeof v=='string'||Array.isArray(v)?v.length
  :v&&typeof v=='object'?Object.keys(v).length:0,
 first:v=>Array.isArray(v)?v[0]:undefined,
 last:v=>Array.isArray(v)?v[v.length-1]:undefined,
 reverse:v=>Array.isArray(v)?v.slice().reverse():v,
 map:(v,key)=>Array.isArray(v)?v.map(item=>property(item,text(key))):v,
 plus:(v,a)=>number(v)+number(a),
 minus:(v,a)=>number(v)-number(a),
 times:(v,a)=>number(v)*number(a),
 divided_by:(v,a)=>{
  if(!number(a))fail('divided by zero');
  return isInteger(v)&&isInteger(a)?Math.floor(number(v)/number(a)):number(v)/number(a);
 },
 modulo:(v,a)=>{
  if(!number(a))fail('divided by zero');
  var n=number(v)%number(a);
  return n&&Math.sign(n)!=Math.sign(number(a))?n+number(a):n;
 },
 round:(v,a)=>{
  var digits=number(a);
  return digits?Number(Math.round(Number(number(v)+'e'+digits))+'e-'+digits)
   :Math.round(number(v));
 },
 floor:v=>Math.floor(number(v)),
 ceil:v=>Math.ceil(number(v)),
 abs:v=>Math.abs(number(v)),
 escape:v=>v instanceof Safe?v:new Safe(escapeHtml(text(v))),
 url_encode:v=>encodeURIComponent(text(v))
  .replace(/[!'()*]/g,c=>'%'+c.charCodeAt(0).toString(16).toUpperCase()).replace(/%20/g,'+'),
 money:v=>money(v),
 money_eu:v=>money(v,true)
};
// a value's own property; arrays and strings also have size, first and last
function property(value,key){
 if(Array.isArray(value)||typeof value=='string'){
  if(key=='size')return value.length;
  if(key=='first')return value[0];
  if(key=='last')return value[value.length-1];
  if(typeof key=='number'&&key<0)key+=value.length;
 }
 return value&&typeof value=='object'&&hasOwn(value,key)?value[key]:undefined;
}

// expressions: literals, variables with .name and [index], ranges (a..b), comparisons
// joined by and/or (right to left, as Liquid), filters with arguments
function tokens(markup){
 var found=[],at=0,match,
  re=/\s*('[^']*'|"[^"]*"|-?\d+(?:\.\d+)?|\.\.|==|!=|<>|>=|<=|[<>|:,[\]().=]|[A-Za-z_][\w-]*\??)/y;
 markup=markup.trimEnd();
 while(at<markup.length){
  re.lastIndex=at;
  match=re.exec(markup)||fail('unexpected '+markup.slice(at).trim());
  found.push(match[1]);
  at=re.lastIndex;
 }
 return found;
}
// a reader over an expression's tokens; each parse* returns a function of the scope
function Reader(markup){
 var list=tokens(markup),at=0,reader={
  peek:ahead=>list[at+(ahead||0)],
  next:()=>list[at++],
  take:token=>list[at]==token&&++at,
  expect:token=>reader.take(token)||fail('expected '+token+' in '+markup),
  done:()=>at>=list.length,
  end:()=>reader.done()||fail('unexpected '+list[at]+' in '+markup)
 };
 return reader;
}
function parseValue(reader){
 var token=reader.next(),path=[];
 if(token==null)fail('expected a value');
 if(/^['"]/.test(token))return ()=>token.slice(1,-1);
 if(/^-?\d/.test(token))return ()=>Number(token);
 if(token=='('){
  var from=parseValue(reader);reader.expect('..');
  var to=parseValue(reader);reader.expect(')');
  return scope=>{
   var list=[];
   for(var i=number(from(scope));i<=number(to(scope));i++){
    if(list.push(i)>MAX_ITERATIONS)fail('range too long');
   }
   return list;
  };
 }
 if(token=='['){  // ['name'] at the start: a variable named by a string
  path.push(parseValue(reader));reader.expect(']');
 }else if(/^[A-Za-z_]/.test(token)){
  if(hasOwn(LITERALS,token))return ()=>LITERALS[token];
  path.push(()=>token);
 }else fail('unexpected '+token);
 for(;;){
  if(reader.take('.')){
   let name=reader.next();
   if(!/^[A-Za-z_]/.test(name||''))fail('expected a name after .');
   path.push(()=>name);
  }else if(reader.take('[')){
   path.push(parseValue(reader));reader.expect(']');
  }else break;
 }
 return scope=>path.reduce((value,key,index)=>
  index?property(value,key(scope)):scope.lookup(key(scope)),undefined);
}
function parseFiltered(reader){
 var value=parseValue(reader),filters=[];
 while(reader.take('|')){
  var name=reader.next(),args=[];
  if(!/^[A-Za-z_]/.test(name||''))fail('expected a filter name');
  if(reader.take(':')){
   do{
    // keyword arguments (name: value) are read and ignored
    if(/^[A-Za-z_]/.test(reader.peek())&&reader.peek(1)==':'){
     reader.next();reader.next();parseValue(reader);
     continue;
    }
    args.push(parseValue(reader));
   }while(reader.take(','));
  }
  filters.push([name,args]);
 }
 return scope=>filters.reduce((result,[name,args])=>{
  var filter=hasOwn(scope.formatters,name)&&typeof scope.formatters[name]=='function'
   ?scope.formatters[name]:hasOwn(FILTERS,name)&&FILTERS[name];
  if(!filter)return result;  // unknown filters pass the value through, as on the server
  return filter(result,...args.map(arg=>arg(scope)));
 },value(scope));
}
function compare(left,op,right){
 if(right===EMPTY||left===EMPTY){
  var value=right===EMPTY?left:right,empty=value===''||Array.isArray(value)&&!value.length
   ||value&&typeof value=='object'&&value!==EMPTY&&!Object.keys(value).length||value===EMPTY;
  return op=='=='?empty:op=='!='||op=='<>'?!empty:false;
 }
 if(op=='==')return left===right||left==null&&right==null;
 if(op=='!='||op=='<>')return !(left===right||left==null&&right==null);
 if(op=='contains'){
  return typeof left=='string'?left.includes(text(right))
   :Array.isArray(left)?left.includes(right):hasOwn(left,text(right));
 }
 if(typeof left!=typeof right||!/^(number|string)$/.test(typeof left))return false;
 return op=='<'?left<right:op=='>'?left>right:op=='<='?left<=right:left>=right;
}
function comparison(left,op,right){return scope=>compare(left(scope),op,right(scope))}
// Liquid's truth: everything but nil and false
function truthy(value){return scope=>{var v=value(scope);return v!=null&&v!==false}}
function parseCondition(markup){
 var reader=Reader(markup),parts=[],joins=[];
 do{
  var left=parseValue(reader),op=reader.peek();
  if(/^(==|!=|<>|<|>|<=|>=|contains)$/.test(op)){
   reader.next();
   parts.push(comparison(left,op,parseValue(reader)));
  }else parts.push(truthy(left));
 }while((op=reader.peek())&&/^(and|or)$/.test(op)&&joins.push(reader.next()));
 reader.end();
 return scope=>{
  var result=parts[parts.length-1](scope);
  for(var i=parts.length-2;i>=0;i--){
   result=joins[i]=='and'?parts[i](scope)&&result:parts[i](scope)||result;
  }
  return result;
 };
}

// templates: text, {{ output }} and {% tags %} with - trimming white space next to them
function tokenize(source){
 var list=[],re=/{{(-?)([\s\S]*?)(-?)}}|{%(-?)\s*(\w+)([\s\S]*?)(-?)%}/g,at=0,trimNext,match;
 function addText(value){
  if(trimNext)value=value.trimStart();
  if(/{{|{%/.test(value))fail('unclosed tag or output: '+value.slice(value.search(/{{|{%/),40));
  list.push({text:value});
 }
 while((match=re.exec(source))){
  addText(source.slice(at,match.index));
  var previous=list[list.length-1];
  if(match[1]||match[4])previous.text=previous.text.trimEnd();
  trimNext=match[3]||match[7];
  at=re.lastIndex;
  if(match[5]=='raw'){
   var end=/{%-?\s*endraw\s*-?%}/g;
   end.lastIndex=at;
   var closing=end.exec(source)||fail('expected tag endraw');
   list.push({text:source.slice(at,closing.index),raw:1});
   at=re.lastIndex=end.lastIndex;
  }else if(match[5]){
   list.push({tag:match[5],markup:match[6].trim()});
  }else list.push({output:match[2]});
 }
 addText(source.slice(at));
 return list;
}
// a block of nodes up to one of the tags in `ends`; each node is a function(scope, out)
function parseBlock(list,ends,depth){
 if(depth>MAX_DEPTH)fail('blocks nested too deep');
 var nodes=[];
 for(;;){
  var token=list.shift();
  if(!token){
   if(ends)fail('expected tag '+ends[ends.length-1]+', found end of template');
   return {nodes};
  }
  if(token.text!=null){
   let value=token.text;
   nodes.push((scope,out)=>out.push(value));
  }else if(token.output!=null){
   let output=Reader(token.output),expression=parseFiltered(output);
   output.end();
   nodes.push((scope,out)=>{
    var result=expression(scope);
    out.push(result instanceof Safe?result.text:escapeHtml(text(result)));
   });
  }else if(ends&&ends.includes(token.tag)){
   return {nodes,end:token};
  }else nodes.push(parseTag(token,list,depth));
 }
}
function run(nodes,scope,out){nodes.forEach(node=>node(scope,out))}
function parseTag(token,list,depth){
 var tag=token.tag,markup=token.markup,block,match;
 if(tag=='if'||tag=='unless'){
  var branches=[],condition=parseCondition(markup),otherwise=[];
  if(tag=='unless')condition=(c=>scope=>!c(scope))(condition);
  for(;;){
   block=parseBlock(list,['elsif','else','end'+tag],depth+1);
   branches.push([condition,block.nodes]);
   if(block.end.tag=='elsif')condition=parseCondition(block.end.markup);
   else break;
  }
  if(block.end.tag=='else')otherwise=parseBlock(list,['end'+tag],depth+1).nodes;
  return (scope,out)=>{
   var branch=branches.find(([test])=>test(scope));
   run(branch?branch[1]:otherwise,scope,out);
  };
 }
 if(tag=='case'){
  var subject=Reader(markup),value=parseValue(subject),whens=[],fallback=[];
  subject.end();
  block=parseBlock(list,['when','else','endcase'],depth+1);
  while(block.end.tag=='when'){
   var reader=Reader(block.end.markup),options=[];
   do options.push(parseValue(reader));while(reader.take(',')||reader.take('or'));
   reader.end();
   block=parseBlock(list,['when','else','endcase'],depth+1);
   whens.push([options,block.nodes]);
  }
  if(block.end.tag=='else')fallback=parseBlock(list,['endcase'],depth+1).nodes;
  return (scope,out)=>{
   var left=value(scope),
    chosen=whens.find(([options])=>options.some(option=>compare(left,'==',option(scope))));
   run(chosen?chosen[1]:fallback,scope,out);
  };
 }
 if(tag=='for'){
  match=markup.match(/^([A-Za-z_][\w-]*)\s+in\s+([\s\S]+)$/)||fail('for: expected x in list');
  var name=match[1],loop=Reader(match[2]),collection=parseValue(loop),limit,offset,reversed;
  while(!loop.done()){
   var option=loop.next();
   if(option=='reversed')reversed=1;
   else if(option=='limit'&&loop.expect(':'))limit=parseValue(loop);
   else if(option=='offset'&&loop.expect(':'))offset=parseValue(loop);
   else fail('for: unexpected '+option);
  }
  block=parseBlock(list,['else','endfor'],depth+1);
  var body=block.nodes,empty=block.end.tag=='else'?parseBlock(list,['endfor'],depth+1).nodes:[];
  return (scope,out)=>{
   var items=collection(scope);
   if(typeof items=='string')items=[items];
   else if(items&&typeof items=='object'&&!Array.isArray(items)){
    items=Object.keys(items).map(key=>[key,items[key]]);
   }
   items=Array.isArray(items)?items:[];
   var start=offset?number(offset(scope)):0;
   items=items.slice(start,limit?start+number(limit(scope)):undefined);
   if(reversed)items.reverse();
   if(!items.length)return run(empty,scope,out);
   var locals={},inner=scope.child(locals);
   for(var index=0;index<items.length;index++){
    if(++scope.state.iterations>MAX_ITERATIONS)fail('too many loop iterations');
    locals[name]=items[index];
    locals.forloop={index:index+1,index0:index,rindex:items.length-index,
     rindex0:items.length-index-1,first:!index,last:index==items.length-1,length:items.length};
    try{run(body,inner,out)}catch(e){
     if(e!==STOP)throw e;
     if(STOP.kind=='break')break;
    }
   }
  };
 }
 if(tag=='break'||tag=='continue')return ()=>{STOP.kind=tag;throw STOP};
 if(tag=='assign'){
  match=markup.match(/^([A-Za-z_][\w-]*)\s*=([\s\S]*)$/)||fail('assign: expected x = value');
  var target=match[1],assigned=Reader(match[2]),expression=parseFiltered(assigned);
  assigned.end();
  return scope=>{scope.state.assigned[target]=expression(scope)};
 }
 if(tag=='capture'){
  var captured=markup.trim();
  block=parseBlock(list,['endcapture'],depth+1);
  return scope=>{
   var out=[];
   run(block.nodes,scope,out);
   scope.state.assigned[captured]=new Safe(out.join(''));
  };
 }
 if(tag=='comment'){
  while(list.length&&list[0].tag!='endcomment')list.shift();
  if(!list.shift())fail('expected tag endcomment, found end of template');
  return ()=>{};
 }
 fail("unexpected tag '"+tag+"'");
}
function liquid(source,context,formatters){
 var nodes=parseBlock(tokenize(source),null,0).nodes,
  state={iterations:0,assigned:{}},out=[];
 // a scope: lookups go from the innermost for loop out to assigned names, then the context
 function makeScope(locals,parent){
  return {state,formatters:formatters||{},
   lookup:name=>hasOwn(locals,name)?locals[name]:parent?parent.lookup(name)
    :hasOwn(state.assigned,name)?state.assigned[name]:property(context,name),
   child(inner){return makeScope(inner,this)}};
 }
 run(nodes,makeScope({}),out);
 var html=out.join('');
 if(html.length>MAX_OUTPUT)fail('output too long');
 return html;
}
// for the Liquid cases test only: not an API
internal.liquid=liquid;

// --- contents --------------------------------------------------------------------------------
// A content is a .clerk element: data-api (an endpoint) or data-template="@ID" (a content the
// collector holds: POST /v2/content {content: ID, ...}), the element's other data-* as
// arguments. Its design: the @ID content's Liquid (none: the plain list); data-template="#sel"
// naming a <template> (cloned per product, filling data-clerk-field, -href, -src) or a
// <script type="text/x-template"> (Liquid); Liquid written inside the element; else a plain
// ul>li>a list. data-target="#sel" renders elsewhere. Catalogue text is never markup (Liquid
// output is escaped, templates set textContent) and href/src/action take only http(s) or
// relative addresses. Late answers are dropped.
var NOT_ARGS=new RegExp('^(api|template|target|exclude-from|exit-intent|instant-search.*'
  +'|after-render|facets-.*|clerk-.*|key|visitor|session)$'),
 HTML_ESCAPES={amp:'&',lt:'<',gt:'>',quot:'"',nbsp:'\u00a0'},
 requestCount=0,sources=new WeakMap();
function parseJson(value,fallback){try{return JSON.parse(value)}catch(e){return fallback}}
// an absolute http(s) address for value, or nothing (javascript:, data: and the like)
function safeUrl(value){
 try{
  var url=value!=null&&new URL(value,location.href);
  return url&&/^https?:$/.test(url.protocol)&&url.href;
 }catch(e){}
}
function argsOf(element){
 var args={};
 for(var name in element.dataset){
  var key=name.replace(/[A-Z]/g,c=>'-'+c.toLowerCase()),value=element.dataset[name];
  if(NOT_ARGS.test(key))continue;
  args[key]=/^[[{]/.test(value)||/^(limit|offset)$/.test(key)?parseJson(value,[]):value;
 }
 return args;
}
// the products a content shows, once it has rendered (data-exclude-from waits for them)
function shown(element){
 if(!element.clerkShown||element.clerkShown.settled){
  var resolve,promise=new Promise(done=>resolve=done);
  promise.resolve=ids=>{promise.settled=1;resolve(ids)};
  element.clerkShown=promise;
 }
 return element.clerkShown;
}
// data-exclude-from as the plugins write it: selectors with Clerk's :limit(N) (the first N
// products only) and a trailing comma (Magento 2's powerstep), quotes kept around the value
// (WooCommerce passes the attribute through esc_attr); a selector that is none: nothing
function excluded(element){
 return Promise.all((element.getAttribute('data-exclude-from')||'').split(',').map(part=>{
  var limit=/:limit\((\d+)\)\s*$/.exec(part),others=[],
   selector=part.replace(/:limit\(\d+\)\s*$/,'').trim().replace(/^["']|["']$/g,'');
  try{if(selector)others=Array.from(document.querySelectorAll(selector))}catch(e){warn(e.message)}
  return Promise.all(others.map(other=>
   other==element||!other.matches('[data-template],[data-api]:not([data-api^="log/"])')?[]
    :Promise.race([shown(other),new Promise(done=>setTimeout(done,5000,[]))])))
   .then(lists=>[].concat(...lists).slice(0,limit?+limit[1]:undefined));
 })).then(lists=>[].concat(...lists));
}
// Liquid written inside the element, kept the first time it is seen (rendering replaces it)
function keepInlineDesign(element){
 if(sources.has(element))return;
 var inline=element.innerHTML;
 // the HTML serialiser escaped &, <, > (and " in attributes) inside the Liquid: undo that there
 sources.set(element,/{[{%]/.test(inline)&&inline.replace(/{[{%][\s\S]*?[%}]}/g,code=>
  code.replace(/&(amp|lt|gt|quot|nbsp);/g,(all,name)=>HTML_ESCAPES[name])));
}
// more: arguments beside the element's own (clerk-search.js: offset, filter, facets); with it,
// after(answer, content) gets the answer instead of it being rendered here
function render(element,query,after,more){
 var template=element.getAttribute('data-template')||'',
  contentId=template[0]=='@'&&template.slice(1),
  api=contentId?'content':element.getAttribute('data-api'),args=argsOf(element),request,
  content={id:element.id,element,api:element.getAttribute('data-api')||undefined,args,template,
   target:element.getAttribute('data-target')};
 keepInlineDesign(element);
 if(element.getAttribute('data-exit-intent')=='true'&&!after)return exitIntent(element);
 if(element.hasAttribute('data-instant-search')&&!query)return;
 if(!api)return warn('nothing to render: no data-api or data-template="@ID"',element);
 if(contentId)args.content=contentId;
 if(query)args.query=query;
 Object.assign(args,more);
 element.clerkRequest=request=++requestCount;
 shown(element);
 excluded(element).then(ids=>{
  if(ids.length)args.exclude=(args.exclude||[]).concat(ids);
  send(api,args,answer=>{
   if(element.clerkRequest==request){
    if(!more)fill(element,content,answer,query);
    if(after)after(answer,content);
   }
  },()=>{
   if(sources.get(element))element.textContent='';  // no Liquid source left showing
   element.clerkShown.resolve([]);
  },content);
 });
}
function fill(element,content,answer,query){
 if(answer.content)content.api=answer.content.api;
 var products=answer.product_data||[],
  config=internal.config(),
  design=answer.content?answer.content.design:null,
  templateSelector=!answer.content&&element.getAttribute('data-template'),
  template=templateSelector&&document.querySelector(templateSelector),
  target=content.target&&document.querySelector(content.target)||element,
  // the answer's other fields (facets; live search's suggestions, categories, pages) too
  context=Object.assign({},answer,{products,content:answer.content||{},
   globals:config.globals||{},count:answer.count,query:query||content.args.query}),
  html;
 if(template&&template.tagName!='TEMPLATE'){
  design=template.textContent;
  template=null;
 }else if(!template&&!answer.content)design=sources.get(element)||null;
 if(design!=null){
  try{html=liquid(design,context,config.formatters)}catch(e){
   warn(e.message,element);
   html='';
  }
 }
 target.textContent='';
 if(html!=null)target.append(sanitized(html));
 else list(target,products,template);
 if(html!=null)positions(target,products);
 // clicks are logged with the content's api and labels (a content's own, from the collector)
 var source=answer.content||{api:content.api,labels:content.args.labels};
 target.setAttribute('data-clerk-api',source.api||'');
 target.setAttribute('data-clerk-labels',JSON.stringify(source.labels||[]));
 if(target.clerkClose)target.prepend(target.clerkClose);
 target.toggleAttribute('data-clerk-empty',!products.length);
 if(query)element.hidden=!products.length;
 element.clerkShown.resolve(products.map(product=>product.id));
 var data=Object.assign({},answer,context,{response:answer,api:content.api,args:content.args,
  template:content.template,target});
 emit('rendered',content,data);
 var hook=element.getAttribute('data-after-render');
 if(hook&&typeof window[hook]=='function')try{window[hook](data)}catch(e){warn(e)}
}
// the design's HTML, parsed inert (nothing loads or runs), without unsafe addresses (in any
// namespace: SVG's xlink:href too)
function sanitized(html){
 var holder=document.createElement('template');
 holder.innerHTML=html;
 holder.content.querySelectorAll('*').forEach(node=>{
  Array.from(node.attributes).forEach(attribute=>{
   if(/^(href|src|action|formaction|data|poster)$/.test(attribute.localName)
    &&!safeUrl(attribute.value))node.removeAttributeNode(attribute);
  });
 });
 return holder.content;
}
// in a design, elements with data-clerk-product-id get their position (data-clerk-n) from
// the answer's order; product links without one get both, found by the product's url
function positions(target,products){
 var position=new Map();
 products.forEach((product,index)=>position.has(product.id)||position.set(product.id,index+1));
 target.querySelectorAll('[data-clerk-product-id]:not([data-clerk-n])').forEach(node=>{
  var n=position.get(node.getAttribute('data-clerk-product-id'));
  if(n)node.setAttribute('data-clerk-n',n);
 });
 target.querySelectorAll('a[href]').forEach(link=>{
  if(link.closest('[data-clerk-product-id]'))return;
  var index=products.findIndex(product=>safeUrl(product.url)==link.href);
  if(index>=0){
   link.setAttribute('data-clerk-product-id',products[index].id);
   link.setAttribute('data-clerk-n',index+1);
  }
 });
}
// a <template> cloned per product, or a plain list of linked names
function list(target,products,template){
 var container=template||!products.length?target:target.appendChild(document.createElement('ul'));
 products.forEach((product,index)=>{
  var clone=template?template.content.cloneNode(true):document.createElement('li');
  if(template)clone.querySelectorAll('*').forEach(node=>fillNode(node,product));
  else{
   var link=clone.appendChild(document.createElement('a')),url=safeUrl(product.url);
   link.textContent=product.name;
   if(url)link.href=url;
  }
  (template?Array.from(clone.children):[clone]).forEach(root=>{
   root.setAttribute('data-clerk-product-id',product.id);
   root.setAttribute('data-clerk-n',index+1);
  });
  container.append(clone);
 });
}
// one node of a template's clone: data-clerk-field sets its text, data-clerk-href and
// data-clerk-src its href and src (removed if the product's value is no safe address)
function fillNode(node,product){
 var field=node.getAttribute('data-clerk-field'),value;
 if(field){
  value=product[field];
  node.textContent=value!=null&&node.getAttribute('data-clerk-format')=='price'
   ?Number(value).toFixed(2):value;
 }
 for(var attribute of ['href','src']){
  field=node.getAttribute('data-clerk-'+attribute);
  if(!field)continue;
  value=safeUrl(product[field]);
  if(value)node.setAttribute(attribute,value);
  else node.removeAttribute(attribute);
 }
}

// --- exit intent and popups ------------------------------------------------------------------
// data-exit-intent="true": rendered when the pointer leaves through the top of the window,
// once per page load; inside a .clerk-popup, that popup is shown then.
function exitIntent(element){
 if(element.clerkExit)return;
 element.clerkExit=1;
 document.addEventListener('mouseout',function leave(event){
  if(event.relatedTarget||event.clientY>0)return;
  document.removeEventListener('mouseout',leave);
  render(element,null,()=>{
   var popup=element.closest('.clerk-popup');
   if(popup)showPopup(popup,true);
  });
 });
}
// ui('popup', selector, 'show' | 'hide'): a dialog with a close button; Escape closes it and
// focus goes back where it was
var openPopups=new Set();
function showPopup(popup,show){
 if(!popup.clerkClose){
  var close=popup.clerkClose=document.createElement('button');
  close.type='button';
  close.className='clerk-popup-close';
  close.setAttribute('aria-label','Close');
  close.textContent='\u00d7';
  close.addEventListener('click',()=>showPopup(popup,false));
  popup.setAttribute('role','dialog');
  popup.setAttribute('aria-modal','true');
  popup.tabIndex=-1;
 }
 if(popup.firstChild!=popup.clerkClose)popup.prepend(popup.clerkClose);
 if(show&&!openPopups.has(popup)){
  popup.clerkFocus=document.activeElement;
  openPopups.add(popup);
 }else if(!show&&openPopups.delete(popup)&&popup.clerkFocus&&popup.clerkFocus.focus){
  popup.clerkFocus.focus();
 }
 popup.hidden=!show;
 popup.classList.toggle('clerk-popup-hidden',!show);
 // the plugins' popups come with style="display: none;" or a stylesheet's display: none
 if(!show)popup.style.display='none';
 else{
  if(popup.style.display=='none')popup.style.display='';
  if(getComputedStyle(popup).display=='none')popup.style.display='block';
 }
 if(show)popup.focus();
}
listen('keydown',(target,event)=>{
 if(event.key=='Escape')openPopups.forEach(popup=>showPopup(popup,false));
});
function ui(kind,selector,action){
 if(kind!='popup')return warn('unknown ui',kind);
 document.querySelectorAll(selector).forEach(popup=>showPopup(popup,action!='hide'));
}

// --- predictive search, as Clerk's data-instant-search ----------------------------------------
// <input id="q"> <span class="clerk" data-api="search/predictive" data-instant-search="#q"
// data-limit="6" data-labels='["Search"]' data-template="#tpl">: asks 180 ms after typing (2+
// chars); hidden when cleared or on Escape; arrows move aria-selected (.clerk-active), Enter
// clicks the active product's link.
function eachSearchBoxOf(input,handler){
 document.querySelectorAll('.clerk[data-instant-search]').forEach(box=>{
  if(input.matches&&input.matches(box.getAttribute('data-instant-search')))handler(box);
 });
}
listen('input',input=>eachSearchBoxOf(input,box=>{
 var query=input.value.trim();
 clearTimeout(box.clerkTimer);
 if(query.length<2){
  box.clerkRequest=++requestCount;  // drops the answer still on its way
  box.hidden=true;
 }else{
  box.clerkTimer=setTimeout(()=>show(box,query),180);
 }
}));
listen('keydown',(input,event)=>eachSearchBoxOf(input,box=>{
 var key=event.key,items=Array.from(box.querySelectorAll('[data-clerk-product-id],[role=option]')),
  up=key=='ArrowUp',active=items.findIndex(item=>item.getAttribute('aria-selected')=='true');
 if(key=='Escape')box.hidden=true;
 if(key=='Enter'&&active>=0&&!box.hidden){
  event.preventDefault();
  (items[active].querySelector('a[href]')||items[active]).click();
 }
 if((up||key=='ArrowDown')&&items.length){
  event.preventDefault();
  box.hidden=false;
  // up from the first (or from none) wraps to the last; down from none starts at the first
  if(up)active=(active<1?items.length:active)-1;
  else active=(active+1)%items.length;
  items.forEach((item,index)=>{
   item.setAttribute('aria-selected',index==active);
   item.classList.toggle('clerk-active',index==active);
  });
  if(!items[active].id)items[active].id='clerk-'+randomId();
  input.setAttribute('aria-activedescendant',items[active].id);
 }
}));

// --- the search page and live search's sections: clerk-search.js, added when first needed ----
var SEARCH='[data-facets-target],[data-query],[data-template="@search-page"],'
  +'[data-instant-search-suggestions],[data-instant-search-categories],[data-instant-search-pages]',
 searchWaiting=[],base=document.currentScript?document.currentScript.src:location.href;
function show(element,query){
 if(!element.matches(SEARCH))return render(element,query);
 if(internal.search)return internal.search(element,query);
 if(!searchWaiting.push([element,query])-1){
  var script=document.createElement('script');
  script.src=new URL('clerk-search.js',base).href;
  script.async=true;
  document.head.append(script);
 }
}
Object.assign(internal,{render,fill,safeUrl,sanitized,
 searchLoaded:search=>{
  internal.search=search;
  searchWaiting.splice(0).forEach(([element,query])=>show(element,query));
 }});
internal.loaded({render:element=>show(element),ui});
})();
