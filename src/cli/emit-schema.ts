import "reflect-metadata";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { printFleetvisorSchema } from "../graphql/schema.js";

/** `npm run schema` (from the package root): writes schema/schema.graphql from the resolvers. */
const path = resolve(process.argv[2] ?? "schema/schema.graphql");
writeFileSync(path, await printFleetvisorSchema());
process.stdout.write(`wrote ${path}\n`);
