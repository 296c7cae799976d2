// Writes a 2-page PDF with pdf-lib (object streams + xref stream, pdf-lib's default).
// usage: node make_pdflib.js OUT.pdf
'use strict';
const fs = require('fs');
const { PDFDocument, StandardFonts, rgb, degrees } = require('pdf-lib');

(async () => {
  const out = process.argv[2];
  const doc = await PDFDocument.create({ updateMetadata: false });
  doc.setTitle('pdf-lib corpus file');
  doc.setProducer('pdf-lib 1.17.1 (qianzhang interop corpus)');
  doc.setCreationDate(new Date(Date.UTC(2024, 0, 2, 3, 4, 5)));
  doc.setModificationDate(new Date(Date.UTC(2024, 0, 2, 3, 4, 5)));
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const sizes = [[595.28, 841.89], [612, 792]];
  sizes.forEach(([w, h], i) => {
    const page = doc.addPage([w, h]);
    page.drawText(`pdf-lib page ${i + 1}`, { x: 72, y: h - 100, size: 24, font, color: rgb(0, 0, 0.4) });
    page.drawRectangle({ x: 72, y: 72, width: w - 144, height: 200, borderColor: rgb(0.2, 0.2, 0.2), borderWidth: 1 });
    page.drawText('Contract text placeholder. '.repeat(3), { x: 80, y: 240, size: 11, font });
  });
  doc.getPage(1).setRotation(degrees(0));
  const bytes = await doc.save({ useObjectStreams: true });
  fs.writeFileSync(out, bytes);
})().catch((e) => { console.error(e); process.exit(1); });
