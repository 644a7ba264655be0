// Encodes strings with Hugging Face's JavaScript tokenizers (npm package @huggingface/tokenizers), run by
// ByteLevelSplitReferenceTest. usage: node hf-tokenizers-encode.mjs PACKAGE_DIR TOKENIZER.json SPECIAL STRINGS.json > IDS.json
// SPECIAL: "true" to add the post-processor's special tokens (add_special_tokens), "false" not to.
import fs from 'fs';
import path from 'path';
import { pathToFileURL } from 'url';

const [pkg, tokenizerFile, special, stringsFile] = process.argv.slice(2);
const { Tokenizer } = await import(pathToFileURL(path.join(pkg, 'dist', 'tokenizers.mjs')).href);
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(tokenizerFile, 'utf8')), {});
const strings = JSON.parse(fs.readFileSync(stringsFile, 'utf8'));
const addSpecialTokens = special === 'true';
process.stdout.write(JSON.stringify(strings.map(s => tokenizer.encode(s, { add_special_tokens: addSpecialTokens }).ids)));
