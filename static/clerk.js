/* clerk.js: privacy-first, Clerk.js-compatible tracker */
(function(w,d){
'use strict';
if(w.Clerk&&w.Clerk.loaded)return;
var N=navigator,L=location,A=(x,i)=>[].slice.call(x,i||0);

// config
var cfg={},hd={},sel=[],sn=new WeakSet(),ems=new Set(),hid=0,rd=0,pd=[],mo,
 OPT='key visitor api collect_email respect_gpc debug language globals'.split(' '),
 sc=d.currentScript||A(d.scripts).filter(s=>/\/clerk\.js(\?.*)?$/.test(s.src)).pop(),
 base=(sc?new URL(sc.src,L.href).origin:L.origin)+'/v2';
function wn(){cfg.debug&&console.warn.apply(console,['Clerk:'].concat(A(arguments)))}
function emit(ev){var a=A(arguments,1);(hd[ev]||[]).forEach(f=>{try{f.apply(w,a)}catch(e){wn(e)}})}
function config(o){
 var k=cfg.key;
 for(var n in o)OPT.indexOf(n)<0?wn('unknown option',n):cfg[n]=o[n];
 rd&&apply(k);
}
function apply(k){
 sync(k);
 if(cfg.key){
  mo||(mo=new MutationObserver(()=>scan())).observe(d,{childList:!0,subtree:!0});
  scan();
 }
}

// visitor: M = effective mode, I = visitor id, S = in-memory session id
var M='auto',I,fg,S=rid(),CK=/(?:^|;\s*)clerk_visitor=([\w-]{1,64})(?:;|$)/;
function rid(){
 for(var a=crypto.getRandomValues(new Uint8Array(22)),s='',i=0;i<22;)
  s+='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[a[i++]&63];
 return s;
}
function ck(){try{return(d.cookie.match(CK)||[])[1]}catch(e){}}
function setck(v){try{d.cookie='clerk_visitor='+v}catch(e){}}
function sync(k){
 var v=cfg.visitor,id,pm=M,
  m=fg||v===null?null
  :v=='persistent'?(N.globalPrivacyControl===true&&cfg.respect_gpc!==false?'auto':v)
  :v==null||v=='auto'?'auto'
  :typeof v=='string'&&/^[\w-]{1,64}$/.test(v)?'custom'
  :(wn('invalid visitor',v),'auto');
 if(m=='persistent'){
  id=ck()||pm==m&&I||rid();
  ck()!=id&&setck(id+'; Path=/; Max-Age=31536000; SameSite=Lax'+(L.protocol=='https:'?'; Secure':''));
 }else{
  id=m&&v;
  ck()&&setck('; Path=/; Max-Age=0');
 }
 M=m;I=id;
 if(pm!==m){
  pm=='auto'&&m&&k&&send('log/visitor',{previous:'auto'});
  emit('visitor',m);
 }
}
// respect_gpc:false tells the collector not to re-apply GPC to an id sent on purpose
function vf(){return M===null?{visitor:null}:Object.assign({visitor:M=='auto'?M:I,session:S},(cfg.respect_gpc===false||M=='custom')&&{respect_gpc:!1})}

// transport
// while the queue drains, configs only merge and calls wait: the final mode sends them.
// Every call is a POST (calls that change a visitor are POST only); a refusal (e.g. a personal
// call from an origin the store does not list) goes to the error callback and, with debug,
// to the console with the collector's message.
function send(ep,args,ok,er){
 function fail(e){wn(ep,e&&e.message||e);if(er)try{er(e)}catch(x){wn(x)}}
 if(!rd)return pd.push(()=>send(ep,args,ok,er));
 try{
  if(!cfg.key)return fail(Error('no key'));
  var p=Object.assign({key:cfg.key},args,vf()),b,u=(cfg.api||base)+'/'+ep;
  if(M===null){
   if(ep=='log/email')return fail(Error('null mode'));
   delete p.session;delete p.email;delete p.customer;
  }
  b=JSON.stringify(p);
  if(hid&&/^log\//.test(ep)&&N.sendBeacon(u,new Blob([b],{type:'text/plain'})))return;
  fetch(u,{method:'POST',body:b,keepalive:b.length<6e4,credentials:'omit'})
   .then(r=>r.json())
   .then(j=>{
    if(!j||j.status!='ok')return fail(j);
    if(ok)try{ok(j)}catch(x){wn(x)}
    emit('response',ep,j);
   }).catch(fail);
 }catch(e){fail(e)}
}
w.addEventListener('pagehide',()=>hid=1);
w.addEventListener('pageshow',()=>hid=0);

// tracking
function at(e,n,c){var x=e.closest((c||'')+'['+n+']');return x&&x.getAttribute(n)}
function js(s,f){try{return JSON.parse(s)||f}catch(e){return f}}
function on(t,f){d.addEventListener(t,e=>{try{f(e.target,e)}catch(x){wn(x)}},!0)}
on('click',t=>{
 var p=t.closest&&t.closest('[data-clerk-product-id]'),l;
 if(p&&(t.closest('.clerk')||sel.some(s=>t.closest(s)))){
  l=js(at(p,'data-clerk-labels')||at(p,'data-labels'),[]);
  send('log/click',{
   product:p.getAttribute('data-clerk-product-id'),
   api:at(p,'data-clerk-api')||at(p,'data-api','.clerk')||void 0,
   labels:Array.isArray(l)?l:[],
   n:parseInt(at(p,'data-clerk-n'),10)||0
  });
 }
});
function em(t){
 var v=(t.value||'').trim();
 if(cfg.collect_email&&M!==null&&t.tagName=='INPUT'&&(t.type=='email'||/email/i.test(t.name+t.autocomplete))
  &&/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)&&!ems.has(v)){
  ems.add(v);
  send('log/email',{email:v});
 }
}
on('change',em);
on('focusout',em);
function scan(s,f){
 if(cfg.key)A(d.querySelectorAll(s||'.clerk')).forEach(e=>{
  var a=e.getAttribute('data-api')||'',g=n=>e.getAttribute('data-'+n)||void 0,lg=/^log\//.test(a);
  if(sn.has(e)&&(lg||!f))return;
  sn.add(e);
  a=='log/product'?send(a,{product:g('product')})
  :a=='log/sale'?send(a,{sale:g('sale'),products:js(g('products'),[]),email:g('email'),customer:g('customer')})
  :lg||a&&render(e,a);
 });
}

// rendering: .clerk elements with a data-api not log/* are widgets; args from data-limit,
// -offset, -labels, -products, -exclude, -category, -query, -fallback. data-template: a
// <template> cloned per product, filling data-clerk-field (text; data-clerk-format="price"),
// data-clerk-href, data-clerk-src (http(s)/relative only); clone roots get data-clerk-product-id
// and data-clerk-n (from 1). Else ul>li>a. Empty: data-clerk-empty. No innerHTML. Late answers
// are dropped. Products a shop renders itself are click-tracked inside a .clerk element with
// data-clerk-api (not data-api, which asks clerk.js to render).
var sq=0;
function ur(v){try{return v!=null&&/^https?:$/.test((v=new URL(v,L.href)).protocol)&&v.href}catch(e){}}
function render(e,a,q){
 var o={},k=++sq,v;
 if(e.hasAttribute('data-instant-search')&&!q)return;
 'limit offset labels products exclude category query fallback'.split(' ').forEach(n=>{
  (v=e.getAttribute('data-'+n))!=null&&(o[n]=/^[cqf]/.test(n)?v:js(v,[]));
 });
 q&&(o.query=q);
 e.ckq=k;
 send(a,o,j=>e.ckq==k&&fill(e,j,q));
}
function fill(e,j,q){
 var p=j.product_data||[],t=e.getAttribute('data-template'),u=e;
 t=t&&d.querySelector(t);
 e.textContent='';
 t||!p.length||(u=e.appendChild(d.createElement('ul')));
 p.forEach((o,i)=>{
  var c=t?t.content.cloneNode(!0):d.createElement('li'),x,v;
  if(t)A(c.querySelectorAll('*')).forEach(x=>{
   for(var k of['field','href','src'])(v=x.getAttribute('data-clerk-'+k))&&(v=o[v],k>'g'?(v=ur(v))?x.setAttribute(k,v):x.removeAttribute(k)
    :x.textContent=v!=null&&x.getAttribute('data-clerk-format')=='price'?(+v).toFixed(2):v);
  });
  else x=c.appendChild(d.createElement('a')),x.textContent=o.name,(v=ur(o.url))&&(x.href=v);
  (t?A(c.children):[c]).forEach(r=>{r.setAttribute('data-clerk-product-id',o.id);r.setAttribute('data-clerk-n',i+1)});
  u.append(c);
 });
 e.toggleAttribute('data-clerk-empty',!p.length);
 q&&(e.hidden=!p.length);
 emit('rendered',e,j);
}

// predictive search, as Clerk's data-instant-search: <input id="q"> <span class="clerk"
// data-api="search/predictive" data-instant-search="#q" data-limit="6" data-labels='["Search"]'
// data-template="#tpl">: asks 180 ms after typing (2+ chars); hidden when cleared or on Escape;
// arrows move aria-selected (.clerk-active), Enter clicks the active product's link.
function ins(t,f){A(d.querySelectorAll('.clerk[data-instant-search]')).forEach(e=>t.matches(e.getAttribute('data-instant-search'))&&f(e))}
on('input',t=>ins(t,e=>{
 var v=t.value.trim();
 clearTimeout(e.ckt);
 v.length<2?(e.ckq=++sq,e.hidden=!0)
 :e.ckt=setTimeout(()=>render(e,e.getAttribute('data-api'),v),180);
}));
on('keydown',(t,ev)=>ins(t,e=>{
 var k=ev.key,x=A(e.querySelectorAll('[data-clerk-product-id]')),n=x.length,u=k=='ArrowUp',
  i=x.findIndex(y=>y.getAttribute('aria-selected')=='true');
 if(k=='Escape')e.hidden=!0;
 if(k=='Enter'&&i>=0&&!e.hidden)ev.preventDefault(),(x[i].querySelector('a[href]')||x[i]).click();
 if((u||k=='ArrowDown')&&n){
  ev.preventDefault();
  e.hidden=!1;
  i=u?(i<1?n:i)-1:(i+1)%n;
  x.forEach((y,j)=>{y.setAttribute('aria-selected',j==i);y.classList.toggle('clerk-active',j==i)});
  t.setAttribute('aria-activedescendant',x[i].id||(x[i].id='clerk-'+rid()));
 }
}));

// command queue
var cmd={
 config:config,
 call:send,
 click:s=>{d.querySelector(s);sel.push(s)},
 cart:(op,x)=>/^(set|add|remove)$/.test(op)?send('log/basket/'+op,op=='set'?{products:x}:{product:x}):wn('unknown cart op',op),
 forget:cb=>{if(!rd)return pd.push(()=>cmd.forget(cb));send('privacy/forget',{},cb,cb);fg=1;sync()},
 on:(ev,f)=>{(hd[ev]=hd[ev]||[]).push(f)},
 content:s=>scan(s,1)
};
function C(n){
 try{cmd.hasOwnProperty(n)?cmd[n].apply(w,A(arguments,1)):wn('unknown command',n)}catch(e){wn(e)}
}
C.loaded=!0;
var q=w.__clerk_q||[];
w.Clerk=C;
w.__clerk_q={push:a=>C.apply(w,a)};
for(var i=0;i<q.length;i++)C.apply(w,q[i]);
rd=1;apply();
pd.forEach(f=>f());
})(window,document);
