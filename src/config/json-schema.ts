import { z } from 'zod'
import { configFileSchema } from './schema.js'

/** `$id` of the published schema (the file `lb.config.schema.json` checked in at the repository root). */
export const CONFIG_SCHEMA_ID = 'urn:lb:lb.config.schema.json'

/**
 * The JSON schema (draft 2020-12) of the configuration file: the input side of the zod schema, with the
 * `.describe()` texts as descriptions. Editors use it for completion and tooltips
 * (`# yaml-language-server: $schema=./lb.config.schema.json`). Written by `scripts/write-schema.mjs`.
 */
export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(configFileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>
  const { $schema: _ignored, ...rest } = generated
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: CONFIG_SCHEMA_ID,
    title: 'lb configuration',
    ...rest,
  }
}
