import { readdirSync, readFileSync } from "node:fs";
import { parse, validate } from "graphql";
import { describe, expect, it } from "vitest";
import { buildFleetvisorSchema } from "../src/graphql/schema.js";

const DIRECTORY = new URL("../client-examples/graphql/", import.meta.url);
const files = readdirSync(DIRECTORY).filter((f) => f.endsWith(".graphql"));

describe("client-examples/graphql", () => {
  it("has the documents frontend teams use", () => {
    expect(files.sort()).toEqual(
      [
        "audit.graphql",
        "control.graphql",
        "healing.graphql",
        "process-changed.graphql",
        "process-log.graphql",
        "process.graphql",
        "processes.graphql",
        "registry.graphql",
        "rollouts.graphql",
        "supervisors.graphql",
      ].sort(),
    );
  });

  it.each(files)("%s is valid against the schema the service builds", async (file) => {
    const schema = await buildFleetvisorSchema();
    const document = parse(readFileSync(new URL(file, DIRECTORY), "utf8"));
    expect(validate(schema, document).map((e) => e.message)).toEqual([]);
  });
});
