// @ts-check
// The poll page, checked against the generated declarations:
//   npx tsc --noEmit --checkJs --allowJs --strict --module esnext --moduleResolution bundler \
//       --target es2022 --lib es2022,dom build/web/app.js
// Two connections: the generated client (plain JS on the protocol's typed
// face) and the page's C++ half (app.cpp) on its own channel.
import createPollClient from './poll_client.mjs';
import createPollApp from './poll_app.mjs';

/** @typedef {import('./poll_client.mjs').DuplexPoll.Tally} Tally */

const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/poll`;
// ?binary: the same typed messages in the binary encoding (binary frames);
// the server speaks whichever each page chose.
const binary = new URLSearchParams(location.search).has('binary');
document.body.dataset.encoding = binary ? 'binary' : 'json';
/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const field = (/** @type {string} */ id) => /** @type {HTMLInputElement | HTMLSelectElement} */ ($(id));

/** @param {Tally} t */
function showTally(t) {
  $('question').textContent = t.question;
  $('counts').replaceChildren(...t.counts.map((c) => {
    const li = document.createElement('li');
    li.textContent = `${c.choice}: ${c.votes}`;
    li.dataset.choice = c.choice;
    return li;
  }));
}

const Poll = await createPollClient();
const client = new Poll.DuplexClient();
client.on('state', (s) => { $('state').textContent = s; });
client.on('message', (m) => {
  if (m.type === 'tally') showTally(m);
  else $('problem').textContent = `${m.code}: ${m.detail}`;  // a refusal from the server
});
client.on('error', (e) => {
  $('problem').textContent = e.kind === 'decode' ? `unreadable message: ${e.detail}` : e.message;
});
client.on('close', (c) => {
  $('state').textContent = c.code === Poll.versionMismatchCode ? c.reason : `closed (${c.code})`;
});
client.connect(url, { binary });

const app = await createPollApp();
app.watch(url, (line) => { $('cpp').textContent = line; });

function ballot() {
  return { voter: field('voter').value, choice: field('choice').value, weight: Number(field('weight').value) };
}

$('vote').addEventListener('submit', (event) => {
  event.preventDefault();
  const b = ballot();
  const choice = b.choice === 'yes' || b.choice === 'no' || b.choice === 'maybe' ? b.choice : 'yes';
  // Checked against poll.hpp's rules before anything is sent.
  const err = client.send({ type: 'vote', voter: b.voter, choice, weight: b.weight });
  $('problem').textContent = err ? (err.kind === 'decode' ? err.detail : err.message) : '';
});
$('send-cpp').addEventListener('click', () => {
  const b = ballot();
  $('problem').textContent = app.vote(b.voter, b.choice, b.weight);
});
