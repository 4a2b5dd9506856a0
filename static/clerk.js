/* clerk.js: privacy-first, Clerk.js-compatible tracker */
(function(){
'use strict';
if(window.Clerk&&window.Clerk.loaded)return;

// config
// handlers: [event, selector or undefined, fn]; a handler with a selector runs only for
// contents (the first argument, {id, element, api, ...}) whose element matches it
var config={},handlers=[],clickSelectors=[],scanned=new WeakSet(),emailsSent=new Set(),
 pageHidden=false,ready=false,pending=[],observer,
 KNOWN_OPTIONS='key visitor api collect_email respect_gpc debug language globals formatters'
  .split(' '),
 thisScript=document.currentScript
  ||Array.from(document.scripts).filter(script=>/\/clerk\.js(\?.*)?$/.test(script.src)).pop(),
 scriptUrl=new URL(thisScript?thisScript.src:'/',location.href),
 apiBase=scriptUrl.origin+'/v2';
function warn(...args){if(config.debug)console.warn('Clerk:',...args)}
// false when a handler returned false (Clerk's way to cancel what follows, e.g. a render)
function emit(event,content,...args){
 var go=true;
 handlers.forEach(([name,selector,handler])=>{
  if(name==event&&(!selector||content&&content.element&&content.element.matches(selector))){
   try{if(handler.call(window,content,...args)===false)go=false}catch(e){warn(e)}
  }
 });
 return go;
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
// content: the widget a call is for (the response event's first argument); plain calls get
// {api, args}.
function send(endpoint,args,onAnswer,onError,content){
 function fail(error){
  warn(endpoint,error&&error.message||error);
  if(onError)try{onError(error)}catch(e){warn(e)}
 }
 if(!ready){
  pending.push(()=>send(endpoint,args,onAnswer,onError,content));
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
    // response handlers run first and may change the answer before it is used
    if(emit('response',content||{api:endpoint,args:args},answer)&&onAnswer){
     try{onAnswer(answer)}catch(e){warn(e)}
    }
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
 // inside a .clerk element, a rendered data-target (it has data-clerk-api) or a click() selector
 if(product&&(target.closest('.clerk,[data-clerk-api]')
  ||clickSelectors.some(selector=>target.closest(selector)))){
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
// rescan: look again at widgets already seen (Clerk('content', ...)); log/* elements log once.
// Anything else to render (data-api, data-template, data-instant-search, Liquid inside)
// goes to clerk-render.js, loaded on the first such element.
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
  }else if(!isLog&&(api||/{[{%]/.test(element.textContent)
   ||element.matches('[data-template],[data-instant-search]'))){
   withRenderer(renderer=>renderer.render(element));
  }
 });
}
// clerk-render.js: added from the same base as this script when first needed; it registers
// itself as internal.renderer and runs what waited. Calls before that wait in order.
var internal={send,emit,warn,config:()=>config,listen,randomId},waiting=[];
function withRenderer(call){
 if(internal.renderer)return call(internal.renderer);
 if(!waiting.length){
  var script=document.createElement('script');
  script.src=new URL('clerk-render.js',scriptUrl).href;
  script.async=true;
  document.head.append(script);
 }
 waiting.push(call);
}
internal.loaded=renderer=>{
 internal.renderer=renderer;
 waiting.splice(0).forEach(call=>{try{call(renderer)}catch(e){warn(e)}});
};

// command queue
// context: Clerk's plugins report the page this way; a product id logs that product's view
// (as a log/product span would). category and page are kept for clerk-render.js (no view is
// logged for them: the collector records product views only).
var context={};
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
 context:changes=>{
  Object.assign(context,changes);
  if(changes&&changes.product!=null)send('log/product',{product:String(changes.product)});
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
 // on(event, fn) or on(event, selector, fn)
 on:(event,selector,handler)=>{
  if(handler)document.querySelector(selector);  // a bad selector throws before it is kept
  handlers.push(handler?[event,selector,handler]:[event,0,selector]);
 },
 content:selector=>scan(selector,true),
 ui:(...args)=>withRenderer(renderer=>renderer.ui(...args))
};
commands.basket=commands.cart;
internal.context=context;
function Clerk(name,...args){
 try{
  if(commands.hasOwnProperty(name))commands[name].apply(window,args);
  else warn('unknown command',name);
 }catch(e){warn(e)}
}
Clerk.loaded=true;
// for clerk-render.js and tests only: not an API
Object.defineProperty(Clerk,'_',{value:internal});
var queued=window.__clerk_q||[];
window.Clerk=Clerk;
window.__clerk_q={push:command=>Clerk.apply(window,command)};
for(var i=0;i<queued.length;i++)Clerk.apply(window,queued[i]);
ready=true;
applyConfig();
pending.forEach(call=>call());
})();
