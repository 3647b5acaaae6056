#!/usr/bin/env node
// Waits until the services that environment variables point to accept TCP
// connections, e.g.
//   node deploy/wait-for.js AMQP_URL DATABASE_URL
// The Helm chart runs it as an init container, so an app starts once its broker
// and database answer instead of failing and being restarted with a growing
// back-off. A variable naming several nodes (AMQP_URL of a cluster:
// comma-separated URLs, or one URL with several hosts) is satisfied once any of
// them answers. Prints host and port only, never a URL (they carry passwords).
// Gives up after WAIT_TIMEOUT_S (300) with exit 1. Plain Node.js with no
// dependencies, so that it runs before anything else; the apps read AMQP_URL
// with libs/messaging/src/amqp-urls.ts, which this follows.
'use strict';
const net = require('node:net');

const DEFAULT_PORTS = {
  'amqp:': 5672,
  'amqps:': 5671,
  'postgres:': 5432,
  'postgresql:': 5432,
  'http:': 80,
  'https:': 443,
};
const timeoutMs = Number(process.env.WAIT_TIMEOUT_S || 300) * 1000;

function endpoint(name, value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} is not a URL`);
  }
  const port = Number(url.port) || DEFAULT_PORTS[url.protocol];
  if (!port) throw new Error(`${name}: no port for ${url.protocol}`);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

// Several URLs, or one URL with several hosts
// (amqp://user:pass@rabbit-1,rabbit-2:5672/vhost): an entry without a scheme is
// another host of the URL before it.
function target(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  const endpoints = [];
  let scheme;
  for (const entry of value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(entry)) {
      scheme = entry.slice(0, entry.indexOf('//'));
      endpoints.push(endpoint(name, entry));
    } else if (scheme && !entry.includes('@')) {
      endpoints.push(endpoint(name, `${scheme}//${entry.split(/[/?#]/)[0]}`));
    } else {
      throw new Error(`${name} is not a URL`);
    }
  }
  return { name, endpoints };
}

const show = (endpoints) =>
  endpoints.map(({ host, port }) => `${host}:${port}`).join(', ');

/** The first endpoint of the target that accepts a connection, or undefined. */
async function anyAccepts({ endpoints }) {
  const answers = await Promise.all(endpoints.map(accepts));
  return endpoints[answers.indexOf(true)];
}

function accepts({ host, port }) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function main() {
  const names = process.argv.slice(2);
  if (names.length === 0)
    throw new Error('usage: wait-for.js ENV_NAME [ENV_NAME ...]');
  const targets = names.map(target);
  const deadline = Date.now() + timeoutMs;
  for (const t of targets) {
    let announced = false;
    let up;
    while (!(up = await anyAccepts(t))) {
      if (Date.now() > deadline)
        throw new Error(
          `${t.name}: ${show(t.endpoints)} did not answer within ${timeoutMs / 1000} s`,
        );
      if (!announced)
        console.log(`waiting for ${t.name} (${show(t.endpoints)})`);
      announced = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
    console.log(`${t.name} (${up.host}:${up.port}) accepts connections`);
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
