#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { openDatabase } from '../db/database';
import { createLogger } from '../logger';

const usage = `usage: ledger <command> [options]

commands:
  migrate     apply pending database migrations (DATABASE_URL, or the embedded default)
  help        print this text`;

/** The `ledger` command. Unknown commands and flags are errors, never ignored. */
export async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const logger = createLogger();
  switch (command) {
    case 'migrate': {
      parseArgs({ args: rest, options: {}, strict: true, allowPositionals: false });
      const db = await openDatabase(loadConfig(), logger);
      await db.close();
      return 0;
    }
    case 'help':
    case '--help':
    case undefined:
      process.stdout.write(`${usage}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`ledger: unknown command ${JSON.stringify(command)}\n${usage}\n`);
      return 2;
  }
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`ledger: ${err.message}\n`);
      process.exit(2);
    },
  );
}
