/** The request encoder of the `xmlrpc` package (CommonJS; not in @types/xmlrpc). */
declare module "xmlrpc/lib/serializer.js" {
  const serializer: {
    serializeMethodCall(method: string, params?: readonly unknown[], encoding?: string): string;
    serializeMethodResponse(result: unknown): string;
    serializeFault(fault: unknown): string;
  };
  export default serializer;
}

/** The package's reader of calls and answers (CommonJS; not in @types/xmlrpc). */
declare module "xmlrpc/lib/deserializer.js" {
  export default class Deserializer {
    constructor(encoding?: string);
    deserializeMethodCall(
      stream: NodeJS.ReadableStream,
      callback: (error: Error | null, method?: string, params?: unknown[]) => void,
    ): void;
  }
}
