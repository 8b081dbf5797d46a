// The chat page. All protocol work (WebSocket, JSON encode/decode) happens in
// the C++ client compiled to WebAssembly (duplex_client.js/.wasm); this file
// only wires it to the DOM. User-supplied text is only ever assigned with
// textContent, never parsed as HTML. Type-checked (tsc --checkJs, in the
// tests) against chat.d.ts, which the build generates from the protocol's C++
// description (lib/include/duplex/schema/chat.hpp).
// @ts-check
'use strict';

(() => {
  /** @param {string} id */
  const byId = (id) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${id}"]`));
  const ui = {
    status: byId('status'),
    name: /** @type {HTMLInputElement} */ (byId('name')),
    join: /** @type {HTMLButtonElement} */ (byId('join')),
    joinForm: /** @type {HTMLFormElement} */ (document.getElementById('join-form')),
    alert: byId('alert'),
    messages: byId('messages'),
    message: /** @type {HTMLInputElement} */ (byId('message')),
    send: /** @type {HTMLButtonElement} */ (byId('send')),
    composer: /** @type {HTMLFormElement} */ (document.getElementById('composer')),
    users: byId('users'),
    userCount: /** @type {HTMLElement} */ (document.getElementById('user-count')),
  };

  const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/chat`;

  /** @type {DuplexChat.Client | null} */
  let client = null;
  /** @type {DuplexChat.Module | null} */
  let duplexModule = null;
  let connState = 'loading';   // mirrors the client: connecting | open | closing | closed
  /** @type {string | null} */
  let me = null;               // the name the server confirmed
  /** @type {string | null} */
  let pendingName = null;      // join sent, no answer yet
  /** @type {string | null} */
  let wantedName = null;       // re-join with this name after a reconnect
  let reconnectDelay = 1000;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let reconnectTimer;
  let leaving = false;         // page is being hidden/unloaded: don't reconnect
  let outOfDate = false;       // the server speaks no version of our protocol

  // ---- small DOM helpers --------------------------------------------------

  /** @param {string} text @param {string} state */
  function setStatus(text, state) {
    ui.status.textContent = text;
    ui.status.dataset.state = state;
  }

  /** @param {string} text */
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
        if (outOfDate) { setStatus('this page is out of date: reload', 'error'); break; }
        const secs = Math.round(reconnectDelay / 1000);
        setStatus(`closed (reconnecting in ${secs}s)`, 'closed');
        break;
      }
      default: setStatus(connState, connState);
    }
  }

  /** @param {HTMLElement} el */
  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }

  /** @param {HTMLElement} li */
  function appendItem(li) {
    const stick = nearBottom(ui.messages);
    ui.messages.appendChild(li);
    if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  /** @param {number} ms */
  function formatTime(ms) {
    const d = new Date(ms);
    if (!Number.isFinite(d.getTime())) return '';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  /** @param {DuplexChat.Message} m */
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

  /** @param {string} text @param {string} [kind] */
  function addNote(text, kind) {
    const li = document.createElement('li');
    li.className = `note ${kind || ''}`.trim();
    li.textContent = text;
    appendItem(li);
  }

  /** @param {string[]} users */
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

  /** @param {DuplexChat.ServerMessage} m */
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
          renderUsers([...ui.users.children].map((li) => li.textContent || ''));
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

  /** @param {DuplexChat.DecodeError | DuplexChat.TransportError} e */
  function onClientError(e) {
    if (e.kind === 'decode') {
      showAlert(`protocol error: undecodable server message (${e.code}${e.path ? ` at '${e.path}'` : ''}: ${e.detail})`);
      console.warn('duplex: could not decode', e);
    } else {
      setStatus(`error: ${e.message}`, 'error');
      console.warn('duplex:', e.message);
    }
  }

  /** @param {DuplexChat.State} s */
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
    if (leaving || outOfDate) return;
    const delay = reconnectDelay;
    reconnectTimer = setTimeout(connect, delay);
    reconnectDelay = Math.min(reconnectDelay * 2, 15000);
  }

  function connect() {
    clearTimeout(reconnectTimer);
    if (client) client.connect(wsUrl);
  }

  // What the page sends is checked by the same C++ rules the server applies
  // (client.send decodes it first): a refusal names the field and the rule.
  /** @param {DuplexChat.DecodeError | DuplexChat.TransportError} err */
  function sendError(err) {
    if (err.kind === 'transport') return err.message;
    if (err.code === 'too_long') return `That ${err.path === 'name' ? 'name' : 'message'} is too long (expected ${err.expected}).`;
    if (err.code === 'empty_value') return err.path === 'name' ? 'Please enter a name.' : 'Please enter a message.';
    return `${err.path || 'message'}: ${err.code} (expected ${err.expected})`;
  }

  // ---- user actions -------------------------------------------------------

  /** @param {string} name */
  function sendJoin(name) {
    const err = client ? client.send({ type: 'join', name }) : null;
    if (!client || err) {
      showAlert(err ? sendError(err) : 'not connected');
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
    clearAlert();
    sendJoin(name);
  });

  ui.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = ui.message.value;
    if (!text.trim()) return;
    const err = client ? client.send({ type: 'chat', text }) : null;
    if (!client || err) {
      showAlert(err ? sendError(err) : 'not connected');
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
    if (ev.persisted && client && !outOfDate) {
      leaving = false;
      reconnectDelay = 1000;
      connect();
    }
  });

  // ---- start ----------------------------------------------------------------

  async function start() {
    setStatus('loading', 'loading');
    /** @type {DuplexChat.Module} */
    let Module;
    try {
      if (typeof createDuplexClient !== 'function') throw new Error('duplex_client.js did not load');
      Module = await createDuplexClient();
    } catch (err) {
      setStatus(`error: could not load the WebAssembly client (${err instanceof Error ? err.message : err})`, 'error');
      return;
    }
    duplexModule = Module;
    client = new Module.DuplexClient();
    client.on('state', onState);
    client.on('message', onServerMessage);
    client.on('error', onClientError);
    client.on('close', (c) => {
      if (duplexModule && c.code === duplexModule.versionMismatchCode) {
        // The server speaks a newer (or older) chat than this page: say so
        // and stop reconnecting; a reload fetches the matching page.
        outOfDate = true;
        showAlert(c.reason || 'this page is out of date: reload');
        return;
      }
      if (c.code !== 1000 && c.code !== 1001) console.info('duplex: connection closed', c);
    });
    /** @type {any} */ (window).duplexClient = client;   // handy from the devtools console
    /** @type {any} */ (window).duplexProtocol = Module.protocol;   // {name, version, subprotocol, fingerprint}
    connect();
  }

  start();
})();
