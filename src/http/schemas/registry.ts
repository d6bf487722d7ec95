// The API's named schemas: registered once with an id, they become $ref components of the OpenAPI document.
import { z } from 'zod';

const registry = z.registry<{ id: string; description?: string }>();

export const apiSchemas = {
  registry,
  /** Names a schema for the document (components.schemas.<id>) and returns it unchanged. */
  register<T extends z.ZodType>(id: string, schema: T): T {
    if (!registry.has(schema)) registry.add(schema, { id });
    return schema;
  },
};
