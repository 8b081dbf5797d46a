// The chat page. All protocol work (WebSocket, JSON encode/decode) happens in
// the C++ client compiled to WebAssembly (duplex_client.js/.wasm); this file
// only wires it to the DOM. User-supplied text is only ever assigned with
// textContent, never parsed as HTML. Type-checked (tsc --checkJs, in the
// tests) against chat.d.ts, which the build generates from the protocol's C++
// description (server/chat_protocol.hpp).
//
// The room comes from the URL (/#lobby; default lobby). The page watches it
// at once (history and who is online, before joining), numbers what it has
// seen by (epoch, seq), and after a dropped connection reconnects by itself
// (exponential backoff with full jitter) and resumes from there: the missed
// lines arrive once; if the server cannot resume, it sends the recent
// history and the page starts the room over.
//
// Sign-in (a server started with --auth-jwt): a token given in the fragment
// (/#token=... or /#garden&token=...) is stored in the cookie duplex_token
// (Path=/ws, SameSite=Strict, Secure on https) and removed from the visible
// URL; the browser sends it with the WebSocket upgrade (a browser WebSocket
// cannot set headers, and a token in the URL would land in logs). The name
// field is filled from the token. Before the token expires the server says so
// (token_expiring, protocol v4): the page asks the app around it for a fresh
// token (window.duplexChat.onTokenExpiring) and hands it over on the open
// connection (refresh), or says how long is left. When the token expires
// the server closes with 4001 and the page says so instead of reconnecting.
//
// Big rooms (protocol v5, duplex-chat --presence-full-limit): above the
// server's limit the page gets presence_summary (the count and the first
// names) instead of every join and leave; it shows the count, the names it
// has (those, itself, and who spoke since) and "Show all", which reads the
// full list a page at a time (list_members, answered with members).
// @ts-check
'use strict';

(() => {
  /** @param {string} id */
  const byId = (id) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${id}"]`));
  const ui = {
    status: byId('status'),
    room: byId('room'),
    name: /** @type {HTMLInputElement} */ (byId('name')),
    join: /** @type {HTMLButtonElement} */ (byId('join')),
    joinForm: /** @type {HTMLFormElement} */ (document.getElementById('join-form')),
    alert: byId('alert'),
    messages: byId('messages'),
    message: /** @type {HTMLInputElement} */ (byId('message')),
    send: /** @type {HTMLButtonElement} */ (byId('send')),
    composer: /** @type {HTMLFormElement} */ (document.getElementById('composer')),
    users: byId('users'),
    usersPartial: byId('users-partial'),
    usersShown: byId('users-shown'),
    showAll: /** @type {HTMLButtonElement} */ (byId('show-all')),
    userCount: /** @type {HTMLElement} */ (document.getElementById('user-count')),
  };

  const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/chat`;
  const ROOM_RULE = /^[A-Za-z0-9_.-]{1,64}$/;
  // The fragment: a room and/or a token, "&"-separated (#garden, #token=..., #garden&token=...).
  /** @type {string | null} */
  let hashToken = null;
  let hashRoom = '';
  for (const part of location.hash.slice(1).split('&')) {
    if (part.startsWith('token=')) hashToken = part.slice('token='.length);
    else if (part && !hashRoom) hashRoom = part;
  }
  const wantedRoom = decodeURIComponent(hashRoom);
  const room = ROOM_RULE.test(wantedRoom) ? wantedRoom : 'lobby';

  // ---- sign-in (servers with --auth-jwt) -----------------------------------

  const TOKEN_COOKIE = 'duplex_token';
  const IDENTITY_KEY = 'duplex_identity';   // {name, exp} read from the token (not the token)
  const TOKEN_EXPIRED_CODE = 4001;          // the server's close code when the token expires
  const JWT_RULE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

  /**
   * The payload's name (else sub) and exp, read without verifying (the server verifies).
   * @param {string} jwt
   * @returns {{name: string | null, exp: number | null}}
   */
  function tokenIdentity(jwt) {
    try {
      let b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      while (b64.length % 4) b64 += '=';
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      /** @type {{name?: unknown, sub?: unknown, exp?: unknown}} */
      const p = JSON.parse(new TextDecoder().decode(bytes));
      const name = typeof p.name === 'string' && p.name ? p.name : typeof p.sub === 'string' ? p.sub : null;
      return { name, exp: typeof p.exp === 'number' ? p.exp : null };
    } catch {
      return { name: null, exp: null };
    }
  }

  /** @type {{name: string | null, exp: number | null} | null} */
  let identity = null;
  try {
    const kept = localStorage.getItem(IDENTITY_KEY);
    if (kept) identity = JSON.parse(kept);
  } catch {
    identity = null;
  }
  /**
   * Keeps a token for the WebSocket upgrades (the duplex_token cookie, which
   * a browser WebSocket sends; it cannot set headers) and the name and exp
   * read from it. False when it is not a JWT.
   * @param {string} jwt
   */
  function storeToken(jwt) {
    if (!JWT_RULE.test(jwt)) return false;
    identity = tokenIdentity(jwt);
    const left = identity.exp !== null ? Math.floor(identity.exp - Date.now() / 1000) : null;
    const secure = location.protocol === 'https:' ? '; Secure' : '';
    const maxAge = left !== null ? `; Max-Age=${Math.max(0, left)}` : '';
    document.cookie = `${TOKEN_COOKIE}=${jwt}; Path=/ws; SameSite=Strict${secure}${maxAge}`;
    try { localStorage.setItem(IDENTITY_KEY, JSON.stringify(identity)); } catch { /* private mode: fine */ }
    return true;
  }

  let tokenProblem = '';
  if (hashToken !== null) {
    // Out of the address bar (and history) at once; the room stays.
    history.replaceState(null, '', location.pathname + location.search + (hashRoom ? `#${hashRoom}` : ''));
    if (!storeToken(hashToken)) tokenProblem = 'The token in the link is not a JWT (header.payload.signature): ignored.';
    hashToken = null;
  }
  let expired = false;         // the token expired: a new one is needed, no reconnecting

  function tokenHasExpired() {
    return identity !== null && identity.exp !== null && Date.now() / 1000 >= identity.exp;
  }

  function sessionExpired() {
    expired = true;
    clearTimeout(reconnectTimer);
    document.cookie = `${TOKEN_COOKIE}=; Path=/ws; Max-Age=0; SameSite=Strict`;
    try { localStorage.removeItem(IDENTITY_KEY); } catch { /* fine */ }
    showAlert('session expired: get a new token');
    refreshControls();
    refreshStatus();
  }

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
  /** @type {string | undefined} */
  let token;                   // from `joined`: takes the name back after a reconnect
  /** @type {{epoch: string, seq: number} | null} */
  let position = null;         // the last line seen in this room
  let resuming = false;        // a resume is in flight
  let everOpen = false;
  let attempts = 0;            // reconnects since the last open
  let reconnectDelay = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let reconnectTimer;
  let leaving = false;         // page is being hidden/unloaded: don't reconnect
  let outOfDate = false;       // the server speaks no version of our protocol
  /** @type {Set<string>} */
  const users = new Set();
  let usersTotal = 0;
  let bigRoom = false;         // the server sends the count and some names only (v5 presence_summary)
  let listingAll = false;      // "Show all": reading the member list page by page
  const MEMBERS_PAGE = 500;

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
      case 'connecting': setStatus(everOpen ? 'reconnecting' : 'connecting', 'connecting'); break;
      case 'open':
        if (resuming) setStatus('reconnecting', 'connecting');
        else if (me !== null) setStatus(`joined as ${me}`, 'joined');
        else if (pendingName !== null) setStatus(`joining as ${pendingName}`, 'connected');
        else setStatus('connected', 'connected');
        break;
      case 'closing': setStatus('closing', 'closed'); break;
      case 'closed': {
        if (outOfDate) { setStatus('this page is out of date: reload', 'error'); break; }
        if (expired) { setStatus('session expired: get a new token', 'error'); break; }
        setStatus(`reconnecting in ${(reconnectDelay / 1000).toFixed(1)}s`, 'closed');
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

  /** @param {{from: string, text: string, time: number, seq: number}} m */
  function addChatLine(m) {
    const li = document.createElement('li');
    li.className = 'msg' + (m.from === me ? ' mine' : '');
    li.dataset.seq = String(m.seq);
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

  function renderUsers() {
    const sorted = [...users].sort((a, b) => a.localeCompare(b));
    const items = sorted.map((name) => {
      const li = document.createElement('li');
      li.textContent = name;                      // exactly the name
      if (name === me) li.className = 'me';       // "(you)" comes from CSS
      return li;
    });
    ui.users.replaceChildren(...items);
    ui.userCount.textContent = String(Math.max(usersTotal, users.size));
    // A big room: say how many of the members are listed, and offer the rest.
    const partial = bigRoom && users.size < usersTotal;
    ui.usersPartial.hidden = !partial;
    if (partial) ui.usersShown.textContent = `${users.size} of ${usersTotal} shown`;
    ui.showAll.disabled = listingAll;
  }

  // "Show all": the member list a page at a time, each page after the last name of the previous one.
  /** @param {string} [after] */
  function listMembers(after) {
    listingAll = true;
    const m = after === undefined ? { type: 'list_members', room, limit: MEMBERS_PAGE }
                                   : { type: 'list_members', room, after, limit: MEMBERS_PAGE };
    if (!send(/** @type {DuplexChat.ClientMessage} */ (m))) listingAll = false;
    renderUsers();
  }

  // A line is shown once: lines at or below the position (same epoch) were shown.
  /** @param {{from: string, text: string, time: number, seq: number, epoch: string}} m */
  function showLine(m) {
    if (position && position.epoch === m.epoch && m.seq <= position.seq) return;
    addChatLine(m);
    position = { epoch: m.epoch, seq: m.seq };
  }

  ui.showAll.addEventListener('click', () => { if (!listingAll) listMembers(); });

  // ---- protocol events ----------------------------------------------------

  /** @param {DuplexChat.ServerMessage} m */
  function onServerMessage(m) {
    switch (m.type) {
      case 'message':
        if (m.room !== room) break;
        showLine(m);
        // A big room sends its speakers' leaves: a speaker is listed from now on.
        if (bigRoom && !users.has(m.from)) { users.add(m.from); renderUsers(); }
        break;
      case 'history':
        if (m.replace) {
          ui.messages.replaceChildren();
          position = null;
        }
        for (const line of m.messages) showLine(line);
        position = { epoch: m.epoch, seq: Math.max(m.seq, position && position.epoch === m.epoch ? position.seq : 0) };
        break;
      case 'resumed':
        resuming = false;
        position = { epoch: m.epoch, seq: m.seq };
        if (m.missed > 0) addNote(`${m.missed} missed message${m.missed === 1 ? '' : 's'} while reconnecting`, 'self');
        refreshStatus();
        break;
      case 'presence':
        bigRoom = false;
        listingAll = false;
        users.clear();
        for (const u of m.users) users.add(u);
        usersTotal = m.total;
        renderUsers();
        break;
      case 'presence_summary':
        // Above the server's limit: the count, the first names, and from now
        // on only the count and the speakers' leaves and returns.
        bigRoom = true;
        listingAll = false;
        users.clear();
        for (const u of m.users) users.add(u);
        if (me !== null) users.add(me);
        usersTotal = m.total;
        renderUsers();
        break;
      case 'members':
        if (m.room !== room) break;
        for (const u of m.users) users.add(u);
        usersTotal = m.total;
        if (m.next !== undefined && m.next !== null && listingAll) listMembers(m.next);
        else listingAll = false;
        renderUsers();
        break;
      case 'presence_diff': {
        for (const u of m.leaves) users.delete(u);
        for (const u of m.joins) users.add(u);
        usersTotal = m.total;
        renderUsers();
        // Announce small changes only: a storm of joins is not a wall of notes.
        if (m.joins.length + m.leaves.length <= 3) {
          for (const u of m.leaves) if (!m.joins.includes(u) && u !== me) addNote(`${u} left`, 'leave');
          for (const u of m.joins) if (!m.leaves.includes(u) && u !== me) addNote(`${u} joined`, 'join');
        }
        break;
      }
      case 'token_expiring':
        tokenExpiring(m.exp, m.seconds);
        break;
      case 'refreshed':
        // The server took the new token: the connection now lasts until m.exp.
        if (identity) identity.exp = m.exp ?? null;
        if (expiringShown) { clearAlert(); expiringShown = false; }
        addNote(m.exp ? `Signed in until ${new Date(m.exp * 1000).toLocaleTimeString()}` : 'Signed in', 'self');
        break;
      case 'joined': {
        const first = wantedName === null || wantedName !== m.name;
        me = m.name;
        token = m.token;
        if (bigRoom) users.add(me);
        wantedName = me;
        pendingName = null;
        clearAlert();
        refreshControls();
        refreshStatus();
        renderUsers();
        if (first) {
          ui.message.focus();
          addNote(`You joined as ${me}`, 'self');
        }
        break;
      }
      case 'error':
        if (m.code === 'epoch_mismatch' || m.code === 'cannot_resume' || m.code === 'position_from_future') {
          // The recent history follows: the room starts over on the page.
          resuming = false;
          addNote('Could not catch up: reloading the recent history', 'leave');
          refreshStatus();
          break;
        }
        // The server answers a join with joined or an error, in order, so an
        // error while a join is pending (name_taken, bad_message for a name
        // it won't accept, ...) is the join's refusal: let the user retry.
        if (pendingName !== null) {
          pendingName = null;
          wantedName = null;
          token = undefined;
          ui.name.setAttribute('aria-invalid', 'true');
          refreshControls();
          refreshStatus();
          ui.name.focus();
          ui.name.select();
        }
        if (m.code === 'rate_limited') {
          // The line reached nobody: give it back instead of losing it.
          if (lastSent !== null && !ui.message.value) ui.message.value = lastSent;
          lastSent = null;
          showAlert(`Slow down: ${m.message}`);
          break;
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
      console.warn('duplex:', e.message);
    }
  }

  /** @param {DuplexChat.State} s */
  function onState(s) {
    connState = s;
    if (s === 'open') {
      everOpen = true;
      attempts = 0;
      // Watch the room (or resume it from the last line seen), then re-join.
      if (position) {
        resuming = true;
        send({ type: 'resume', room, epoch: position.epoch, seq: position.seq });
      } else {
        send({ type: 'watch', room });
      }
      if (wantedName !== null) sendJoin(wantedName);
    }
    if (s === 'closed' || s === 'closing') {
      me = null;
      pendingName = null;
      resuming = false;
    }
    if (s === 'closed') scheduleReconnect();
    refreshControls();
    refreshStatus();
  }

  // Exponential backoff with full jitter: a uniform wait up to
  // min(15 s, 0.5 s * 2^attempts), so a server restart does not bring every
  // page back in the same instant.
  function scheduleReconnect() {
    clearTimeout(reconnectTimer);
    if (leaving || outOfDate || expired) return;
    // A token known to have expired gets 401 at every attempt: say so instead.
    if (tokenHasExpired()) { sessionExpired(); return; }
    reconnectDelay = Math.random() * Math.min(15000, 500 * 2 ** attempts);
    attempts = Math.min(attempts + 1, 10);
    reconnectTimer = setTimeout(connect, reconnectDelay);
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

  /** @type {string | null} the last chat line sent, given back if the server refuses it (rate_limited) */
  let lastSent = null;

  /** @param {DuplexChat.ClientMessage} m */
  function send(m) {
    const err = client ? client.send(m) : null;
    if (!client || err) {
      showAlert(err ? sendError(err) : 'not connected');
      return false;
    }
    return true;
  }

  // ---- user actions -------------------------------------------------------

  /** @param {string} name */
  function sendJoin(name) {
    /** @type {DuplexChat.ClientMessage} */
    const join = token !== undefined && name === wantedName ? { type: 'join', name, room, token } : { type: 'join', name, room };
    if (!send(join)) return;
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
    if (!send({ type: 'chat', text })) return;
    lastSent = text;
    ui.message.value = '';
    ui.message.focus();
  });

  /**
   * A fresh token, handed over on the open connection (version 3's refresh):
   * the server moves the connection's end to the new token's exp, and nobody
   * sees a reconnect. After a 4001 it signs in again. From a new link opened
   * in this tab (#token=...), or from the app around the page:
   * window.duplexChat.refresh(token).
   * @param {string} jwt
   */
  function refreshToken(jwt) {
    if (!storeToken(jwt)) {
      showAlert('The new token is not a JWT (header.payload.signature): ignored.');
      return false;
    }
    if (expired) {
      expired = false;
      clearAlert();
      connect();
    } else if (connState === 'open') {
      send({ type: 'refresh', token: jwt });
    }
    return true;
  }
  // The app around the page: window.duplexChat.refresh(token) hands over a
  // token at any time; window.duplexChat.onTokenExpiring, if the app sets it
  // (before or after this script runs), is asked for one when the server
  // says the current one is about to expire: ({exp, seconds}) => token, or a
  // promise of one (null: none).
  /** @type {{refresh?: (jwt: string) => boolean, onTokenExpiring?: unknown}} */
  const api = /** @type {any} */ (window).duplexChat ?? {};
  api.refresh = refreshToken;
  /** @type {any} */ (window).duplexChat = api;

  let expiringShown = false;   // the "session ends in" alert is up
  /**
   * The server's notice (version 4): the token ends at exp (Unix seconds),
   * `seconds` from now, and the connection with it (4001) unless refreshed.
   * @param {number} exp @param {number} seconds
   */
  async function tokenExpiring(exp, seconds) {
    const ask = api.onTokenExpiring;
    if (typeof ask === 'function') {
      try {
        const jwt = await ask({ exp, seconds });
        if (typeof jwt === 'string' && jwt && refreshToken(jwt)) return;
      } catch (err) {
        console.warn('duplex: window.duplexChat.onTokenExpiring failed', err);
      }
    }
    if (identity && identity.exp !== null && identity.exp > exp) return;   // a newer token is on its way
    showAlert(`Your session ends in ${seconds} s: open a new sign-in link to stay.`);
    expiringShown = true;
  }

  window.addEventListener('hashchange', () => {
    const parts = location.hash.slice(1).split('&');
    const fresh = parts.find((p) => p.startsWith('token='));
    if (fresh === undefined) { location.reload(); return; }   // another room: start over
    history.replaceState(null, '', location.pathname + location.search + (hashRoom ? `#${hashRoom}` : ''));
    refreshToken(fresh.slice('token='.length));
  });
  window.addEventListener('pagehide', () => {
    leaving = true;
    clearTimeout(reconnectTimer);
    if (client) client.close();
  });
  window.addEventListener('pageshow', (ev) => {
    // Back/forward cache restore: the socket was closed on pagehide.
    if (ev.persisted && client && !outOfDate && !expired) {
      leaving = false;
      attempts = 0;
      connect();
    }
  });

  // ---- start ----------------------------------------------------------------

  async function start() {
    ui.room.textContent = `#${room}`;
    document.title = `#${room} · duplex chat`;
    if (identity !== null && identity.name && !ui.name.value) ui.name.value = identity.name;
    if (tokenProblem) showAlert(tokenProblem);
    if (wantedRoom && wantedRoom !== room) showAlert(`"${wantedRoom}" is not a room name (1-64 of A-Z a-z 0-9 _ . -): showing #lobby`);
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
      if (c.code === TOKEN_EXPIRED_CODE) {
        // Reconnecting would only be refused (401): ask for a new token.
        sessionExpired();
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
