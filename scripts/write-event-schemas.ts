/**
 * Writes schemas/events/<type>.json: the JSON Schema of each integration event type's data
 * (src/integration/json-schemas.ts), formatted as prettier formats it, and removes the file
 * of a type that no longer exists. `npm run schemas`; test/unit/integration-schemas.unit.test.ts
 * fails when the committed files differ from what the code generates.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as prettier from 'prettier';
import { integrationEventJsonSchemas } from '../src/integration/json-schemas';

const directory = path.resolve(__dirname, '../schemas/events');

async function main(): Promise<void> {
  await mkdir(directory, { recursive: true });
  const wanted = new Set<string>();
  for (const [type, schema] of Object.entries(integrationEventJsonSchemas())) {
    const file = path.join(directory, `${type}.json`);
    const options = await prettier.resolveConfig(file);
    await writeFile(file, await prettier.format(JSON.stringify(schema), { ...options, filepath: file }));
    wanted.add(`${type}.json`);
  }
  for (const name of await readdir(directory)) {
    if (!wanted.has(name)) await rm(path.join(directory, name));
  }
  process.stdout.write(`wrote ${wanted.size} schemas to ${path.relative(process.cwd(), directory)}/\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
