#!/usr/bin/env node
// Waits until the services that environment variables point to accept TCP connections, e.g.
//   node deploy/wait-for.js AMQP_URL DATABASE_URL
// The Helm chart runs it as an init container, so an app starts once its broker and database
// answer instead of failing and being restarted with a growing back-off. Prints host and port
// only, never a URL (they carry passwords). Gives up after WAIT_TIMEOUT_S (300) with exit 1.
'use strict';
const net = require('node:net');

const DEFAULT_PORTS = { 'amqp:': 5672, 'amqps:': 5671, 'postgres:': 5432, 'postgresql:': 5432, 'http:': 80, 'https:': 443 };
const timeoutMs = Number(process.env.WAIT_TIMEOUT_S || 300) * 1000;

function target(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} is not a URL`);
  }
  const port = Number(url.port) || DEFAULT_PORTS[url.protocol];
  if (!port) throw new Error(`${name}: no port for ${url.protocol}`);
  return { name, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
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
  if (names.length === 0) throw new Error('usage: wait-for.js ENV_NAME [ENV_NAME ...]');
  const targets = names.map(target);
  const deadline = Date.now() + timeoutMs;
  for (const t of targets) {
    let announced = false;
    while (!(await accepts(t))) {
      if (Date.now() > deadline) throw new Error(`${t.name}: ${t.host}:${t.port} did not answer within ${timeoutMs / 1000} s`);
      if (!announced) console.log(`waiting for ${t.name} (${t.host}:${t.port})`);
      announced = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
    console.log(`${t.name} (${t.host}:${t.port}) accepts connections`);
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
