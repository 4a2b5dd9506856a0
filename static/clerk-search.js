/* clerk-search.js: the search page (facets, load more, the address kept in step with the
   shopper's choices, matching categories and pages above the results) and live search's
   suggestions, categories and pages. clerk-render.js
   loads it on demand, only on pages with such an element, and renders through its own
   render/fill (the same arguments, designs, escaping, click tracking and response hooks). */
(function(){
'use strict';
var internal=window.Clerk&&window.Clerk._;
if(!internal||internal.search)return;
var {send,warn,render,fill,safeUrl,randomId}=internal,
 QUERY_PARAMS=['q','query','search','s'],
 CHOICE=/^(facet|range)\.([A-Za-z_][\w.]*)$/,
 NUMBER=/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/,
 SECTIONS=['suggestions','categories','pages'],PAGE_SECTIONS=SECTIONS.slice(1),
 TITLES={suggestions:'Suggestions',categories:'Categories',pages:'Pages'},
 searchPages=new Set(),liveBoxes=new Set();

function data(element,name){return element.getAttribute('data-'+name)||''}
function json(text,fallback){try{return JSON.parse(text)||fallback}catch(e){return fallback}}
// a data-* list of attribute names, as JSON ('["brand","price"]'); anything else: none
function names(element,name){
 return [].concat(json(data(element,name),[])).filter(item=>typeof item=='string');
}
// an element with properties (textContent, never innerHTML) and children
function make(tag,properties,...children){
 var node=Object.assign(document.createElement(tag),properties);
 node.append(...children);
 return node;
}
// the element a selector names, or nothing (no selector, or one that does not parse)
function find(selector){try{return selector&&document.querySelector(selector)}catch(e){}}
function targetOf(element){return find(data(element,'target'))||element}

// --- the search page ------------------------------------------------------------------------
// <span id="clerk-search" class="clerk" data-template="@search-page" data-query="jacket"
// data-target="#results" data-facets-target="#filters" data-facets-attributes='["brand"]' ...>
// The state (query, chosen facet values) is read from the address: ?q= (or query, search, s;
// data-query wins when not empty), facet.NAME=value and range.NAME=min..max, repeated.
// chosen: Map of 'facet.NAME' | 'range.NAME' -> Set of values ('Acme', '50..74.99')
function fromAddress(element){
 var params=new URLSearchParams(location.search),chosen=new Map(),query=data(element,'query').trim();
 params.forEach((value,key)=>{
  var match=CHOICE.exec(key),range=value.split('..');
  if(!match||match[1]=='range'&&!(range.length==2&&range.every(n=>NUMBER.test(n))))return;
  if(!chosen.has(key))chosen.set(key,new Set());
  chosen.get(key).add(value);
 });
 QUERY_PARAMS.forEach(name=>{query=query||(params.get(name)||'').trim()});
 return {query,chosen,offset:+data(element,'offset')||0,products:[]};
}
function toAddress(chosen){
 var url=new URL(location.href),params=url.searchParams;
 Array.from(params.keys()).forEach(key=>CHOICE.test(key)&&params.delete(key));
 chosen.forEach((values,key)=>values.forEach(value=>params.append(key,value)));
 history.pushState({clerk:1},'',url);
}
// Clerk's filter language: one part per attribute, all AND-ed after the element's own filter:
// (brand in ["Acme", "Borealis"]) and ((price >= 0 and price <= 49.99) or (...))
function filterOf(element,chosen){
 var own=data(element,'filter').trim(),parts=own?['('+own+')']:[];
 chosen.forEach((values,key)=>{
  var [,kind,name]=CHOICE.exec(key),list=Array.from(values);
  if(kind=='facet')parts.push('('+name+' in '+JSON.stringify(list)+')');
  else{
   list=list.map(value=>value.split('..'))
    .map(([min,max])=>'('+name+' >= '+min+' and '+name+' <= '+max+')');
   parts.push(list.length>1?'('+list.join(' or ')+')':list[0]);
  }
 });
 return parts.join(' and ')||undefined;
}
function searchPage(element){
 var before=element.clerkState,state=element.clerkState=fromAddress(element);
 // data-search-categories="N", data-search-pages="N" (data-search-pages-type): asked once
 // per query (not again for facet choices, load more, back and forward)
 state.sites=before&&before.query==state.query?before.sites
  :sitesOf(element,'search-',PAGE_SECTIONS,state.query);
 searchPages.add(element);
 ask(element);
}
// the first page (or, with more, the next one: appended) for the current state
function ask(element,more){
 var state=element.clerkState,offset=more?state.offset:+data(element,'offset')||0,
  facets=names(element,'facets-attributes'),
  args={offset,filter:filterOf(element,state.chosen)};
 if(!state.query)return;
 if(facets.length){
  args.facets=facets;
  args.facets_multiselect=names(element,'facets-multiselect-attributes')
   .filter(name=>facets.includes(name));
 }
 render(element,state.query,(answer,content)=>{
  var request=element.clerkRequest;
  state.sites.then(lists=>{
   if(element.clerkRequest!=request)return;
   var page=answer.product_data||[],before=more?state.products.length:0,
    target=targetOf(element),first,
    holder=sectionsOf(element,answer,PAGE_SECTIONS,lists,'clerk-search-');
   state.products=(more?state.products:[]).concat(page);
   state.offset=offset+(answer.result||page).length;
   fill(element,content,Object.assign(answer,{product_data:state.products}),state.query);
   // the categories and pages go above the results (data-target), in place of the last ones
   if(element.clerkSections)element.clerkSections.remove();
   target.before(element.clerkSections=holder);
   holder.hidden=!holder.children.length;
   facetsOf(element,answer.facets||{},facets);
   loadMore(element,target,page.length&&state.products.length<answer.count);
   // after "load more", keyboard users go on from the first new product
   first=more&&target.querySelector('[data-clerk-n="'+(before+1)+'"]');
   if(first)(first.matches('a[href]')?first:first.querySelector('a[href]')||first).focus();
  });
 },args);
}
// a button after the results while the answer's count is more than they show
function loadMore(element,target,wanted){
 var button=element.clerkMore;
 if(!button){
  button=element.clerkMore=make('button',{type:'button',className:'clerk-load-more',
   textContent:'Load more'});
  button.addEventListener('click',()=>ask(element,true));
 }
 if(target.nextSibling!=button)target.after(button);
 button.hidden=!wanted;
}
// data-facets-target: a fieldset per attribute (data-facets-attributes' order, legends from
// data-facets-titles), a checkbox per value with its count; chosen values stay listed
function facetsOf(element,facets,names){
 var holder=find(data(element,'facets-target')),
  titles=json(data(element,'facets-titles'),{}),state=element.clerkState,
  active=document.activeElement,focused;
 if(!holder)return;
 if(holder.contains(active))focused=active.name+'\n'+active.value;
 if(!holder.clerkListening){
  holder.clerkListening=1;
  holder.addEventListener('change',event=>choose(element,event.target));
 }
 holder.textContent='';
 names.forEach(name=>{
  var values=Array.isArray(facets[name])?facets[name]:[],
   range=values.some(value=>value.type=='range')||state.chosen.has('range.'+name),
   key=(range?'range.':'facet.')+name,chosen=state.chosen.get(key)||new Set(),
   list=make('ul',{className:'clerk-facet-values'}),listed=new Set();
  values.forEach(value=>{
   var choice=range?value.min+'..'+value.max:String(value.value);
   listed.add(choice);
   list.append(option(key,choice,value.name,value.count,chosen.has(choice)));
  });
  chosen.forEach(choice=>listed.has(choice)
   ||list.append(option(key,choice,range?choice.replace('..',' - '):choice,null,true)));
  if(!list.children.length)return;
  holder.append(make('fieldset',{className:'clerk-facet'},
   make('legend',{textContent:hasOwn(titles,name)?titles[name]:name}),list));
 });
 // the checkbox just clicked was made again: focus stays on it
 holder.querySelectorAll('input').forEach(input=>{
  if(input.name+'\n'+input.value==focused)input.focus();
 });
}
function hasOwn(object,name){return Object.prototype.hasOwnProperty.call(object,name)}
function option(key,value,name,count,checked){
 return make('li',{className:'clerk-facet-value'},make('label',{},
  make('input',{type:'checkbox',name:key,value,checked}),' ',
  make('span',{className:'clerk-facet-name',textContent:name==null?value:name}),
  count==null?'':make('span',{className:'clerk-facet-count',textContent:' ('+count+')'})));
}
function choose(element,input){
 var chosen=element.clerkState.chosen,values=chosen.get(input.name)||new Set();
 if(!CHOICE.test(input.name))return;
 if(input.checked)values.add(input.value);
 else values.delete(input.value);
 if(values.size)chosen.set(input.name,values);
 else chosen.delete(input.name);
 toAddress(chosen);
 ask(element);
}
// back and forward: the state of that address, asked again
window.addEventListener('popstate',()=>searchPages.forEach(element=>{
 if(element.isConnected)searchPage(element);
 else searchPages.delete(element);
}));

// --- suggestions, categories and pages -------------------------------------------------------
// data-PREFIX-suggestions="N" (and -categories, -pages; -pages-type other than 'all' keeps one
// type of page, asked of the collector): each with a count above 0 asked with the query and
// that limit; a promise of the lists, in the order of the names (a list not asked: empty)
function sitesOf(element,prefix,names,query){
 var type=data(element,prefix+'pages-type').trim();
 return Promise.all(names.map(name=>{
  var limit=Math.min(+data(element,prefix+name)||0,name=='suggestions'?20:100),args={query,limit};
  if(name=='pages'&&type&&type.toLowerCase()!='all')args.type=type;
  return limit>0&&query?new Promise(done=>send('search/'+name,args,
   answer=>done(answer[name=='suggestions'?'result':name]||[]),()=>done([]))):[];
 }));
}
// the lists go into the answer (the design's context) and, unless the design names them
// (then it renders them itself), into a div.PREFIXsections of a section per list not empty
function sectionsOf(element,answer,names,lists,prefix){
 var design=(answer.content||{}).design||'',holder=make('div',{className:prefix+'sections'});
 names.forEach((name,index)=>{
  var items=answer[name]=lists[index];
  if(items.length&&!new RegExp('\\b'+name+'\\b').test(design)){
   holder.append(section(element,name,items,prefix));
  }
 });
 return holder;
}

// --- live search: suggestions, categories and pages beside the predictive products -----------
// data-instant-search-suggestions="N" (and -categories, -pages, -pages-type): asked with the
// products, shown after them as lists of options that the arrow keys reach (clerk-render.js
// moves through [role=option]).
function liveSearch(box,query){
 liveBoxes.add(box);
 var asked=sitesOf(box,'instant-search-',SECTIONS,query);
 render(box,query,(answer,content)=>{
  var request=box.clerkRequest;
  asked.then(lists=>{
   if(box.clerkRequest!=request)return;
   var sections=sectionsOf(box,answer,SECTIONS,lists,'clerk-live-'),
    found=(answer.product_data||[]).length+[].concat(...lists).length;
   fill(box,content,answer,query);
   targetOf(box).append(sections);
   box.hidden=!found;
   if(found)place(box);
  });
 },{});
}
// a click elsewhere than the box and its input hides the box
document.addEventListener('click',event=>liveBoxes.forEach(box=>{
 if(!box.contains(event.target)&&event.target!=find(data(box,'instant-search')))box.hidden=true;
}),true);
// a titled list (live search's: a listbox of options); catalogue text always as text, links
// only to safe addresses
function section(element,name,items,prefix){
 var id='clerk-'+randomId(),live=prefix=='clerk-live-',list=make('ul',{className:prefix+name});
 if(live)list.setAttribute('role','listbox');
 list.setAttribute('aria-labelledby',id);
 items.forEach(item=>{
  var option=make('li',{className:prefix+'item'}),
   label=name=='suggestions'?item:name=='categories'?item.name:item.title,url=safeUrl(item.url);
  if(live)option.setAttribute('role','option');
  if(name=='suggestions'){
   option.append(make('button',{type:'button',tabIndex:-1,textContent:label}));
   option.addEventListener('click',()=>suggest(element,String(label)));
  }else option.append(url?make('a',{href:url,textContent:label}):make('span',{textContent:label}));
  list.append(option);
 });
 return make('div',{className:prefix+'section'},
  make('p',{id,className:prefix+'title',textContent:TITLES[name]}),list);
}
// a suggestion chosen: it goes into the input, and live search asks for it
function suggest(box,text){
 var input=find(data(box,'instant-search'));
 if(!input)return;
 input.value=text;
 input.focus();
 input.dispatchEvent(new Event('input',{bubbles:true}));
}
// data-instant-search-positioning: below (or left), center, right of the input; off: the
// page places the box itself
function place(box){
 var how=data(box,'instant-search-positioning'),input,rect,parent,origin;
 if(!how||how=='off')return;
 input=find(data(box,'instant-search'));
 if(!input)return;
 box.style.position='absolute';
 box.style.zIndex=1000;
 rect=input.getBoundingClientRect();
 parent=box.offsetParent;
 origin=parent&&getComputedStyle(parent).position!='static'?parent.getBoundingClientRect()
  :{top:-scrollY,left:-scrollX};
 box.style.top=rect.bottom-origin.top+'px';
 box.style.left=Math.max(0,(how=='right'?rect.right-box.offsetWidth
  :how=='center'?rect.left+(rect.width-box.offsetWidth)/2:rect.left)-origin.left)+'px';
}

internal.searchLoaded((element,query)=>{
 try{
  if(element.hasAttribute('data-instant-search')){
   if(query)liveSearch(element,query);
  }else searchPage(element);
 }catch(e){warn(e)}
});
})();
