// Encodes strings with the reference GPT-2 encoder of the npm package gpt-3-encoder (run by Gpt2ReferenceTest).
// usage: node gpt2-reference-encode.js PACKAGE_DIR STRINGS.json > IDS.json   (STRINGS.json: a JSON array of strings)
const fs = require('fs');
const { encode } = require(process.argv[2]);
const strings = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
process.stdout.write(JSON.stringify(strings.map(s => encode(s))));
