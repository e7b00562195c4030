import serializer from "xmlrpc/lib/serializer.js";
import { describe, expect, it } from "vitest";
import { decodeMethodResponse, XmlRpcDecodeError } from "./xmlrpc-decoder.js";

describe("decodeMethodResponse", () => {
  it("decodes what the xmlrpc package encodes, value for value", () => {
    const value = {
      name: "python-server",
      group: "python-server",
      start: 1795696311,
      state: 20,
      ratio: 0.5,
      running: true,
      stopped: false,
      description: 'pid 42, uptime 0:01:00 <&> "quoted" 도메카',
      empty: "",
      list: [1, "two", [3], { four: 4 }],
      nothing: [],
    };
    expect(decodeMethodResponse(serializer.serializeMethodResponse(value))).toEqual({ kind: "value", value });
    expect(decodeMethodResponse(serializer.serializeMethodResponse([value, value]))).toEqual({
      kind: "value",
      value: [value, value],
    });
  });

  it("decodes supervisord's own shapes: untyped strings, multicall results, i8, nil, base64, dates", () => {
    const xml = `<?xml version='1.0'?>
<methodResponse><params><param><value><array><data>
<value>untyped text</value>
<value><struct><member><name>statecode</name><value><int>1</int></value></member></struct></value>
<value><i8>9007199254740</i8></value>
<value><nil/></value>
<value><base64>aGVsbG8=</base64></value>
<value><dateTime.iso8601>20261126T12:30:45</dateTime.iso8601></value>
<value><string></string></value>
</data></array></value></param></params></methodResponse>`;
    expect(decodeMethodResponse(xml)).toEqual({
      kind: "value",
      value: [
        "untyped text",
        { statecode: 1 },
        9007199254740,
        null,
        Buffer.from("hello"),
        new Date("2026-11-26T12:30:45Z"),
        "",
      ],
    });
  });

  it("decodes a fault", () => {
    const xml = serializer.serializeFault({ faultCode: 10, faultString: "BAD_NAME: nope" });
    expect(decodeMethodResponse(xml)).toEqual({ kind: "fault", faultCode: 10, faultString: "BAD_NAME: nope" });
  });

  it.each([
    ["HTML", "<html><head><title>401 Unauthorized</title></head></html>"],
    ["not XML", "{ nope"],
    ["truncated", "<?xml version='1.0'?><methodResponse><params><param><value><array><data><value><int>1</int>"],
    ["a bad int", "<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>"],
  ])("refuses %s", (_label, xml) => {
    expect(() => decodeMethodResponse(xml)).toThrow(XmlRpcDecodeError);
  });
});

describe("decodeMethodResponse, strings as supervisord writes them", () => {
  const response = (text: string) =>
    `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value><string>${text}</string></value>\n<value><int>12</int></value>\n</data></array></value>\n</param>\n</params>\n</methodResponse>\n`;

  it("keeps control characters, CR and line separators that XML cannot carry raw", () => {
    // An ANSI colour, a CR LF line end, C1 controls and U+2028, as a log may hold them.
    const text = "\x1b[32mok\x1b[0m\r\n\x01\x7f\x85\u2028tab\there &amp; \uB3C4";
    expect(decodeMethodResponse(response(text))).toEqual({
      kind: "value",
      value: ["\x1b[32mok\x1b[0m\r\n\x01\x7f\x85\u2028tab\there & \uB3C4", 12],
    });
  });

  it("replaces what no XML can carry (NUL, non-characters) with U+FFFD", () => {
    expect(decodeMethodResponse(response("a\x00b\uFFFEc"))).toEqual({ kind: "value", value: ["a\uFFFDb\uFFFDc", 12] });
  });
});
