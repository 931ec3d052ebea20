'use strict';
// What the headless-Chromium tests share: launching Debian's chromium
// through playwright-core with a throw-away profile, and reading a
// screenshot back to check it is not blank.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const CHROMIUM = process.env.RAGWS_CHROMIUM || '/usr/bin/chromium';

/** A persistent context in a fresh profile (browser.profile: remove it
 * after close, see close()). opts: extra launch options (viewport ...). */
async function launch(opts = {}) {
  const { chromium } = require('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ragws-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ...opts,
  });
  browser.profile = profile;
  return browser;
}

/** Close a browser from launch() and remove its profile. */
async function close(browser) {
  if (!browser) return;
  await browser.close().catch(() => {});
  if (browser.profile) fs.rmSync(browser.profile, { recursive: true, force: true });
}

/** Distinct colours of a PNG (8-bit RGB/RGBA, non-interlaced), sampled. */
function pngColours(buf) {
  let pos = 8;
  let width;
  let height;
  let ctype;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      ctype = data[9];
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    pos += 12 + len;
  }
  const bpp = ctype === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const prev = Buffer.alloc(stride);
  const line = Buffer.alloc(stride);
  const colours = new Set();
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? line[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let v = src[i];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = v & 255;
    }
    for (let x = 0; x < width; x += 3) {
      colours.add(line.readUIntBE(x * bpp, 3));
      const lum = line[x * bpp] + line[x * bpp + 1] + line[x * bpp + 2];
      sum += lum;
      sum2 += lum * lum;
      n++;
    }
    line.copy(prev);
  }
  const mean = sum / n;
  return { width, height, colours: colours.size, variance: sum2 / n - mean * mean };
}


module.exports = { CHROMIUM, launch, close, pngColours };
