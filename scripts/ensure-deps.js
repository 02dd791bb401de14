#!/usr/bin/env node
// Installs dependencies when node_modules is missing or older than package-lock.json.
// Plain Node on purpose: it runs before anything is installed.
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const lockFile = path.join(root, 'package-lock.json');
const stamp = path.join(root, 'node_modules', '.ledger-deps-stamp');

function fingerprint() {
  const hash = createHash('sha256');
  hash.update(readFileSync(path.join(root, 'package.json')));
  if (existsSync(lockFile)) hash.update(readFileSync(lockFile));
  hash.update(process.version);
  return hash.digest('hex');
}

const wanted = fingerprint();
const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
if (have === wanted) process.exit(0);

// `npm ci` is not used: this registry serves only some platforms' optional packages, so
// the lock file never lists them all and `npm ci` refuses it as out of sync.
const command = ['install', '--no-audit', '--no-fund'];
process.stderr.write(`[ensure-deps] dependencies missing or stale: npm ${command.join(' ')}\n`);
const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
const result = spawnSync(npm[0], [...npm.slice(1), ...command], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  process.stderr.write(`[ensure-deps] npm ${command[0]} failed with exit code ${result.status}\n`);
  process.exit(result.status ?? 1);
}
writeFileSync(stamp, `${wanted}\n`);
