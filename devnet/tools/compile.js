// Compile with the pinned solc-js: reads a solc standard-JSON input on stdin, writes
// {"version": <solc version>, "output": <standard-JSON output>} on stdout. Used by devnet/build.py.
const solc = require("solc");
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const output = JSON.parse(solc.compile(input));
  process.stdout.write(JSON.stringify({ version: solc.version(), output }));
});
