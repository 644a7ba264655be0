// Encodes strings with Hugging Face's JavaScript tokenizers (npm package @huggingface/tokenizers) and decodes the ids,
// for HfTokenizersReference (tests). usage: node hf-tokenizers-encode.mjs PACKAGE_DIR TOKENIZER.json STRINGS.json > OUT.json
// OUT.json: {"plain": ENCODED, "special": ENCODED}, without and with the post-processor's special tokens
// (add_special_tokens); ENCODED: {"ids": [[...], ...], "texts": ["...", ...]}, texts decoded with special tokens kept and
// without transformers' clean-up of spaces before punctuation (which is not the tokenizer's: Rust's tokenizers decodes
// the same).
import fs from 'fs';
import path from 'path';
import { pathToFileURL } from 'url';

const [pkg, tokenizerFile, stringsFile] = process.argv.slice(2);
const { Tokenizer } = await import(pathToFileURL(path.join(pkg, 'dist', 'tokenizers.mjs')).href);
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(tokenizerFile, 'utf8')), {});
const strings = JSON.parse(fs.readFileSync(stringsFile, 'utf8'));
function encoded(addSpecialTokens) {
  const ids = strings.map(s => tokenizer.encode(s, { add_special_tokens: addSpecialTokens }).ids);
  // (its decode refuses no ids at all, which decode to "")
  const texts = ids.map(i => i.length === 0 ? '' : tokenizer.decode(i, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
  return { ids, texts };
}
process.stdout.write(JSON.stringify({ plain: encoded(false), special: encoded(true) }));
