// Marks dist/cjs as CommonJS: the package is ESM ("type": "module"), so
// without this Node would read the CommonJS build as ESM.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cjs");
writeFileSync(join(dist, "package.json"), '{ "type": "commonjs" }\n');
