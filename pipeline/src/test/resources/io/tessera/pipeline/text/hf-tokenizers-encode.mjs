// Encodes strings with Hugging Face's JavaScript tokenizers (npm package @huggingface/tokenizers) and decodes the ids,
// for HfTokenizers (tests). usage: node hf-tokenizers-encode.mjs PACKAGE_DIR TOKENIZER.json SPECIAL STRINGS.json > OUT.json
// SPECIAL: "true" to add the post-processor's special tokens (add_special_tokens), "false" not to. OUT.json:
// {"ids": [[...], ...], "texts": ["...", ...]}, texts decoded with special tokens kept and without transformers'
// clean-up of spaces before punctuation (which is not the tokenizer's: Rust's tokenizers decodes the same).
import fs from 'fs';
import path from 'path';
import { pathToFileURL } from 'url';

const [pkg, tokenizerFile, special, stringsFile] = process.argv.slice(2);
const { Tokenizer } = await import(pathToFileURL(path.join(pkg, 'dist', 'tokenizers.mjs')).href);
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(tokenizerFile, 'utf8')), {});
const strings = JSON.parse(fs.readFileSync(stringsFile, 'utf8'));
const ids = strings.map(s => tokenizer.encode(s, { add_special_tokens: special === 'true' }).ids);
// (its decode refuses no ids at all, which decode to "")
const texts = ids.map(i => i.length === 0 ? '' : tokenizer.decode(i, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
process.stdout.write(JSON.stringify({ ids, texts }));
