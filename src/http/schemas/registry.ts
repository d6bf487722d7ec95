// The API's named schemas: registered once with an id, they become $ref components of the OpenAPI document.
import { z } from 'zod';

/**
 * zod's global registry: it also holds every `.describe()` text, so field descriptions reach the document (a
 * registry of our own would carry the ids but drop the descriptions).
 */
const registry = z.globalRegistry;

export const apiSchemas = {
  registry,
  /** Names a schema for the document (components.schemas.<id>) and returns it unchanged. */
  register<T extends z.ZodType>(id: string, schema: T): T {
    const existing = registry.get(schema);
    if (existing?.id === id) return schema;
    // A schema with a `.describe()` text is in the registry already: keep the text, add the id.
    if (existing) registry.remove(schema);
    registry.add(schema, { ...existing, id });
    return schema;
  },
};
