/** The request encoder of the `xmlrpc` package (CommonJS; not in @types/xmlrpc). */
declare module "xmlrpc/lib/serializer.js" {
  const serializer: {
    serializeMethodCall(method: string, params?: readonly unknown[], encoding?: string): string;
    serializeMethodResponse(result: unknown): string;
    serializeFault(fault: unknown): string;
  };
  export default serializer;
}
