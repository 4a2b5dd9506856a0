/* clerk.js: privacy-first, Clerk.js-compatible tracker */
(function(){
'use strict';
if(window.Clerk&&window.Clerk.loaded)return;

// config
var config={},handlers={},clickSelectors=[],scanned=new WeakSet(),emailsSent=new Set(),
 pageHidden=false,ready=false,pending=[],observer,
 KNOWN_OPTIONS='key visitor api collect_email respect_gpc debug language globals'.split(' '),
 thisScript=document.currentScript
  ||Array.from(document.scripts).filter(script=>/\/clerk\.js(\?.*)?$/.test(script.src)).pop(),
 apiBase=(thisScript?new URL(thisScript.src,location.href).origin:location.origin)+'/v2';
function warn(...args){if(config.debug)console.warn('Clerk:',...args)}
function emit(event,...args){
 (handlers[event]||[]).forEach(handler=>{try{handler.apply(window,args)}catch(e){warn(e)}});
}
function configure(changes){
 var previousKey=config.key;
 for(var name in changes){
  if(KNOWN_OPTIONS.indexOf(name)<0)warn('unknown option',name);
  else config[name]=changes[name];
 }
 if(ready)applyConfig(previousKey);
}
function applyConfig(previousKey){
 syncVisitor(previousKey);
 if(config.key){
  if(!observer){
   observer=new MutationObserver(()=>scan());
   observer.observe(document,{childList:true,subtree:true});
  }
  scan();
 }
}

// visitor: mode is the effective mode ('auto', 'persistent', 'custom' or null), visitorId the
// id sent in persistent and custom modes, sessionId the in-memory session id
var mode='auto',visitorId,forgotten=false,sessionId=randomId();
// 22 characters of 64 (6 bits each): 132 random bits
function randomId(){
 var id='';
 crypto.getRandomValues(new Uint8Array(22)).forEach(byte=>{
  id+='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[byte%64];
 });
 return id;
}
function readCookie(){
 try{
  var found=document.cookie.match(/(?:^|;\s*)clerk_visitor=([\w-]{1,64})(?:;|$)/);
  if(found)return found[1];
 }catch(e){}
}
function writeCookie(value){try{document.cookie='clerk_visitor='+value}catch(e){}}
function chooseMode(wanted){
 if(forgotten||wanted===null)return null;
 if(wanted=='persistent'){
  return navigator.globalPrivacyControl===true&&config.respect_gpc!==false?'auto':'persistent';
 }
 if(wanted==null||wanted=='auto')return 'auto';
 if(typeof wanted=='string'&&/^[\w-]{1,64}$/.test(wanted))return 'custom';
 warn('invalid visitor',wanted);
 return 'auto';
}
function syncVisitor(previousKey){
 var wanted=config.visitor,previousMode=mode,newMode=chooseMode(wanted),id=null;
 if(newMode=='persistent'){
  id=readCookie()||(previousMode=='persistent'&&visitorId)||randomId();
  if(readCookie()!=id){
   writeCookie(id+'; Path=/; Max-Age=31536000; SameSite=Lax'
    +(location.protocol=='https:'?'; Secure':''));
  }
 }else{
  if(newMode=='custom')id=wanted;
  if(readCookie())writeCookie('; Path=/; Max-Age=0');
 }
 mode=newMode;
 visitorId=id;
 if(previousMode!==newMode){
  if(previousMode=='auto'&&newMode!==null&&previousKey)send('log/visitor',{previous:'auto'});
  emit('visitor',newMode);
 }
}
// respect_gpc:false tells the collector not to re-apply GPC to an id sent on purpose
function visitorFields(){
 if(mode===null)return {visitor:null};
 var fields={visitor:mode=='auto'?'auto':visitorId,session:sessionId};
 if(config.respect_gpc===false||mode=='custom')fields.respect_gpc=false;
 return fields;
}

// transport
// while the queue drains, configs only merge and calls wait: the final mode sends them.
// Every call is a POST (calls that change a visitor are POST only); a refusal (e.g. a personal
// call from an origin the store does not list) goes to the error callback and, with debug,
// to the console with the collector's message.
function send(endpoint,args,onAnswer,onError){
 function fail(error){
  warn(endpoint,error&&error.message||error);
  if(onError)try{onError(error)}catch(e){warn(e)}
 }
 if(!ready){
  pending.push(()=>send(endpoint,args,onAnswer,onError));
  return;
 }
 try{
  if(!config.key)return fail(Error('no key'));
  var payload=Object.assign({key:config.key},args,visitorFields()),
   url=(config.api||apiBase)+'/'+endpoint;
  if(mode===null){
   if(endpoint=='log/email')return fail(Error('null mode'));
   delete payload.session;
   delete payload.email;
   delete payload.customer;
  }
  var body=JSON.stringify(payload);
  if(pageHidden&&isLogCall(endpoint)
   &&navigator.sendBeacon(url,new Blob([body],{type:'text/plain'})))return;
  fetch(url,{method:'POST',body:body,keepalive:body.length<60000,credentials:'omit'})
   .then(response=>response.json())
   .then(answer=>{
    if(!answer||answer.status!='ok')return fail(answer);
    if(onAnswer)try{onAnswer(answer)}catch(e){warn(e)}
    emit('response',endpoint,answer);
   }).catch(fail);
 }catch(e){fail(e)}
}
function isLogCall(endpoint){return /^log\//.test(endpoint)}
window.addEventListener('pagehide',()=>{pageHidden=true});
window.addEventListener('pageshow',()=>{pageHidden=false});

// tracking
// the value of attribute name on element or on its closest ancestor that has it (and, given a
// prefix such as '.clerk', matches prefix[name])
function closestAttribute(element,name,prefix){
 var found=element.closest((prefix||'')+'['+name+']');
 return found&&found.getAttribute(name);
}
function parseJson(text,fallback){try{return JSON.parse(text)||fallback}catch(e){return fallback}}
function listen(type,handler){
 document.addEventListener(type,event=>{try{handler(event.target,event)}catch(e){warn(e)}},true);
}
listen('click',target=>{
 var product=target.closest&&target.closest('[data-clerk-product-id]'),labels;
 if(product&&(target.closest('.clerk')||clickSelectors.some(selector=>target.closest(selector)))){
  labels=parseJson(
   closestAttribute(product,'data-clerk-labels')||closestAttribute(product,'data-labels'),[]);
  send('log/click',{
   product:product.getAttribute('data-clerk-product-id'),
   api:closestAttribute(product,'data-clerk-api')
    ||closestAttribute(product,'data-api','.clerk')||undefined,
   labels:Array.isArray(labels)?labels:[],
   n:parseInt(closestAttribute(product,'data-clerk-n'),10)||0
  });
 }
});
function collectEmail(input){
 var email=(input.value||'').trim();
 if(config.collect_email&&mode!==null&&input.tagName=='INPUT'
  &&(input.type=='email'||/email/i.test(input.name+input.autocomplete))
  &&/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)&&!emailsSent.has(email)){
  emailsSent.add(email);
  send('log/email',{email:email});
 }
}
listen('change',collectEmail);
listen('focusout',collectEmail);
// rescan: look again at widgets already seen (Clerk('content', ...)); log/* elements log once
function scan(selector,rescan){
 if(!config.key)return;
 document.querySelectorAll(selector||'.clerk').forEach(element=>{
  var api=element.getAttribute('data-api')||'',isLog=isLogCall(api),
   data=name=>element.getAttribute('data-'+name)||undefined;
  if(scanned.has(element)&&(isLog||!rescan))return;
  scanned.add(element);
  if(api=='log/product')send(api,{product:data('product')});
  else if(api=='log/sale'){
   send(api,{sale:data('sale'),products:parseJson(data('products'),[]),email:data('email'),
    customer:data('customer')});
  }else if(!isLog&&api)render(element,api);
 });
}

// rendering: .clerk elements with a data-api not log/* are widgets; args from data-limit,
// -offset, -labels, -products, -exclude, -category, -query, -fallback. data-template: a
// <template> cloned per product, filling data-clerk-field (text; data-clerk-format="price"),
// data-clerk-href, data-clerk-src (http(s)/relative only); clone roots get data-clerk-product-id
// and data-clerk-n (from 1). Else ul>li>a. Empty: data-clerk-empty. No innerHTML. Late answers
// are dropped. Products a shop renders itself are click-tracked inside a .clerk element with
// data-clerk-api (not data-api, which asks clerk.js to render).
var JSON_ARGS=['limit','offset','labels','products','exclude'],
 TEXT_ARGS=['category','query','fallback'],
 requestCount=0;
// an absolute http(s) address for value, or nothing (javascript:, data: and the like)
function safeUrl(value){
 try{
  var url=value!=null&&new URL(value,location.href);
  return url&&/^https?:$/.test(url.protocol)&&url.href;
 }catch(e){}
}
function render(element,api,query){
 var args={},request=++requestCount;
 if(element.hasAttribute('data-instant-search')&&!query)return;
 JSON_ARGS.concat(TEXT_ARGS).forEach(name=>{
  var value=element.getAttribute('data-'+name);
  if(value!=null)args[name]=TEXT_ARGS.indexOf(name)<0?parseJson(value,[]):value;
 });
 if(query)args.query=query;
 element.clerkRequest=request;
 send(api,args,answer=>{if(element.clerkRequest==request)fill(element,answer,query)});
}
function fill(element,answer,query){
 var products=answer.product_data||[],templateSelector=element.getAttribute('data-template'),
  template=templateSelector&&document.querySelector(templateSelector),container=element;
 element.textContent='';
 if(!template&&products.length)container=element.appendChild(document.createElement('ul'));
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
 element.toggleAttribute('data-clerk-empty',!products.length);
 if(query)element.hidden=!products.length;
 emit('rendered',element,answer);
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

// predictive search, as Clerk's data-instant-search: <input id="q"> <span class="clerk"
// data-api="search/predictive" data-instant-search="#q" data-limit="6" data-labels='["Search"]'
// data-template="#tpl">: asks 180 ms after typing (2+ chars); hidden when cleared or on Escape;
// arrows move aria-selected (.clerk-active), Enter clicks the active product's link.
function eachSearchBoxOf(input,handler){
 document.querySelectorAll('.clerk[data-instant-search]').forEach(box=>{
  if(input.matches(box.getAttribute('data-instant-search')))handler(box);
 });
}
listen('input',input=>eachSearchBoxOf(input,box=>{
 var query=input.value.trim();
 clearTimeout(box.clerkTimer);
 if(query.length<2){
  box.clerkRequest=++requestCount;  // drops the answer still on its way
  box.hidden=true;
 }else{
  box.clerkTimer=setTimeout(()=>render(box,box.getAttribute('data-api'),query),180);
 }
}));
listen('keydown',(input,event)=>eachSearchBoxOf(input,box=>{
 var key=event.key,items=Array.from(box.querySelectorAll('[data-clerk-product-id]')),
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

// command queue
var commands={
 config:configure,
 call:send,
 click:selector=>{
  document.querySelector(selector);  // throws on a bad selector before it is kept
  clickSelectors.push(selector);
 },
 // product: a list of ids for set, one id for add and remove
 cart:(op,product)=>{
  if(/^(set|add|remove)$/.test(op)){
   send('log/basket/'+op,op=='set'?{products:product}:{product:product});
  }else warn('unknown cart op',op);
 },
 forget:callback=>{
  if(!ready){
   pending.push(()=>commands.forget(callback));
   return;
  }
  send('privacy/forget',{},callback,callback);
  forgotten=true;
  syncVisitor();
 },
 on:(event,handler)=>{(handlers[event]=handlers[event]||[]).push(handler)},
 content:selector=>scan(selector,true)
};
function Clerk(name,...args){
 try{
  if(commands.hasOwnProperty(name))commands[name].apply(window,args);
  else warn('unknown command',name);
 }catch(e){warn(e)}
}
Clerk.loaded=true;
var queued=window.__clerk_q||[];
window.Clerk=Clerk;
window.__clerk_q={push:command=>Clerk.apply(window,command)};
for(var i=0;i<queued.length;i++)Clerk.apply(window,queued[i]);
ready=true;
applyConfig();
pending.forEach(call=>call());
})();
