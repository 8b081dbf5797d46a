// The chat page. All protocol work (WebSocket, JSON encode/decode) happens in
// the C++ client compiled to WebAssembly (duplex_client.js/.wasm); this file
// only wires it to the DOM. User-supplied text is only ever assigned with
// textContent, never parsed as HTML.
'use strict';

(() => {
  const byId = (id) => document.querySelector(`[data-testid="${id}"]`);
  const ui = {
    status: byId('status'),
    name: byId('name'),
    join: byId('join'),
    joinForm: document.getElementById('join-form'),
    alert: byId('alert'),
    messages: byId('messages'),
    message: byId('message'),
    send: byId('send'),
    composer: document.getElementById('composer'),
    users: byId('users'),
    userCount: document.getElementById('user-count'),
  };

  const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/chat`;
  const utf8 = new TextEncoder();
  const byteLength = (s) => utf8.encode(s).length;

  let client = null;
  let limits = { name: 32, text: 4000 };
  let connState = 'loading';   // mirrors the client: connecting | open | closing | closed
  let me = null;               // the name the server confirmed
  let pendingName = null;      // join sent, no answer yet
  let wantedName = null;       // re-join with this name after a reconnect
  let reconnectDelay = 1000;
  let reconnectTimer = null;
  let leaving = false;         // page is being hidden/unloaded: don't reconnect

  // ---- small DOM helpers --------------------------------------------------

  function setStatus(text, state) {
    ui.status.textContent = text;
    ui.status.dataset.state = state;
  }

  function showAlert(text) {
    ui.alert.textContent = text;
    ui.alert.hidden = false;
  }

  function clearAlert() {
    ui.alert.textContent = '';
    ui.alert.hidden = true;
  }

  function refreshControls() {
    const open = connState === 'open';
    ui.name.disabled = !open || me !== null || pendingName !== null;
    ui.join.disabled = ui.name.disabled;
    ui.message.disabled = !open || me === null;
    ui.send.disabled = ui.message.disabled;
    ui.message.placeholder = me === null ? 'Join to start chatting' : `Message as ${me}`;
  }

  function refreshStatus() {
    switch (connState) {
      case 'connecting': setStatus('connecting', 'connecting'); break;
      case 'open':
        if (me !== null) setStatus(`joined as ${me}`, 'joined');
        else if (pendingName !== null) setStatus(`joining as ${pendingName}`, 'connected');
        else setStatus('connected', 'connected');
        break;
      case 'closing': setStatus('closing', 'closed'); break;
      case 'closed': {
        const secs = Math.round(reconnectDelay / 1000);
        setStatus(`closed (reconnecting in ${secs}s)`, 'closed');
        break;
      }
      default: setStatus(connState, connState);
    }
  }

  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }

  function appendItem(li) {
    const stick = nearBottom(ui.messages);
    ui.messages.appendChild(li);
    if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function formatTime(ms) {
    const d = new Date(ms);
    if (!Number.isFinite(d.getTime())) return '';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function addChatLine(m) {
    const li = document.createElement('li');
    li.className = 'msg' + (m.from === me ? ' mine' : '');
    const head = document.createElement('div');
    head.className = 'meta';
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = m.from;
    const time = document.createElement('time');
    time.dateTime = new Date(m.time).toISOString();
    time.textContent = formatTime(m.time);
    head.append(from, time);
    const text = document.createElement('p');
    text.className = 'text';
    text.textContent = m.text;
    li.append(head, text);
    appendItem(li);
  }

  function addNote(text, kind) {
    const li = document.createElement('li');
    li.className = `note ${kind || ''}`.trim();
    li.textContent = text;
    appendItem(li);
  }

  function renderUsers(users) {
    const sorted = [...users].sort((a, b) => a.localeCompare(b));
    const items = sorted.map((name) => {
      const li = document.createElement('li');
      li.textContent = name;                      // exactly the name
      if (name === me) li.className = 'me';       // "(you)" comes from CSS
      return li;
    });
    ui.users.replaceChildren(...items);
    ui.userCount.textContent = String(users.length);
  }

  // ---- protocol events ----------------------------------------------------

  function onServerMessage(m) {
    switch (m.type) {
      case 'message':
        addChatLine(m);
        break;
      case 'presence':
        renderUsers(m.users);
        break;
      case 'joined':
        if (pendingName !== null && m.name === pendingName) {
          me = pendingName;
          wantedName = me;
          pendingName = null;
          clearAlert();
          refreshControls();
          refreshStatus();
          renderUsers([...ui.users.children].map((li) => li.textContent));
          ui.message.focus();
          addNote(`You joined as ${me}`, 'self');
        } else {
          addNote(`${m.name} joined`, 'join');
        }
        break;
      case 'left':
        addNote(`${m.name} left`, 'leave');
        break;
      case 'error':
        // The server answers a join with joined or an error, in order, so an
        // error while a join is pending (name_taken, bad_message for a name
        // it won't accept, ...) is the join's refusal: let the user retry.
        if (pendingName !== null) {
          pendingName = null;
          wantedName = null;
          ui.name.setAttribute('aria-invalid', 'true');
          refreshControls();
          refreshStatus();
          ui.name.focus();
          ui.name.select();
        }
        showAlert(m.message ? `${m.code}: ${m.message}` : m.code);
        break;
      default:
        break;
    }
  }

  function onClientError(e) {
    if (e.kind === 'decode') {
      showAlert(`protocol error: undecodable server message (${e.code}${e.field ? ` in '${e.field}'` : ''}: ${e.detail})`);
      console.warn('duplex: could not decode', e);
    } else {
      setStatus(`error: ${e.message}`, 'error');
      console.warn('duplex:', e.message);
    }
  }

  function onState(s) {
    connState = s;
    if (s === 'open') {
      reconnectDelay = 1000;
      if (wantedName !== null) sendJoin(wantedName);   // re-join after a reconnect
    }
    if (s === 'closed' || s === 'closing') {
      if (me !== null) addNote('Disconnected', 'leave');
      me = null;
      pendingName = null;
      renderUsers([]);
    }
    refreshControls();
    refreshStatus();
    if (s === 'closed') scheduleReconnect();
  }

  function scheduleReconnect() {
    clearTimeout(reconnectTimer);
    if (leaving) return;
    const delay = reconnectDelay;
    reconnectTimer = setTimeout(connect, delay);
    reconnectDelay = Math.min(reconnectDelay * 2, 15000);
  }

  function connect() {
    clearTimeout(reconnectTimer);
    client.connect(wsUrl);
  }

  // ---- user actions -------------------------------------------------------

  function sendJoin(name) {
    if (!client.join(name)) {
      showAlert('not connected');
      return;
    }
    pendingName = name;
    refreshControls();
    refreshStatus();
  }

  ui.joinForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = ui.name.value.trim();
    ui.name.removeAttribute('aria-invalid');
    if (!name) { showAlert('Please enter a name.'); return; }
    if (byteLength(name) > limits.name) {
      showAlert(`That name is too long (max ${limits.name} bytes).`);
      return;
    }
    clearAlert();
    sendJoin(name);
  });

  ui.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = ui.message.value;
    if (!text.trim()) return;
    if (byteLength(text) > limits.text) {
      showAlert(`That message is too long (max ${limits.text} bytes).`);
      return;
    }
    if (!client.say(text)) {
      showAlert('not connected');
      return;
    }
    ui.message.value = '';
    ui.message.focus();
  });

  window.addEventListener('pagehide', () => {
    leaving = true;
    clearTimeout(reconnectTimer);
    if (client) client.close();
  });
  window.addEventListener('pageshow', (ev) => {
    // Back/forward cache restore: the socket was closed on pagehide.
    if (ev.persisted && client) {
      leaving = false;
      reconnectDelay = 1000;
      connect();
    }
  });

  // ---- start ----------------------------------------------------------------

  async function start() {
    setStatus('loading', 'loading');
    let Module;
    try {
      if (typeof createDuplexClient !== 'function') throw new Error('duplex_client.js did not load');
      Module = await createDuplexClient();
    } catch (err) {
      setStatus(`error: could not load the WebAssembly client (${err && err.message ? err.message : err})`, 'error');
      return;
    }
    limits = { name: Module.maxNameBytes, text: Module.maxTextBytes };
    client = new Module.DuplexClient();
    client.on('state', onState);
    client.on('message', onServerMessage);
    client.on('error', onClientError);
    client.on('close', (c) => {
      if (c.code !== 1000 && c.code !== 1001) console.info('duplex: connection closed', c);
    });
    window.duplexClient = client;   // handy from the devtools console
    connect();
  }

  start();
})();
