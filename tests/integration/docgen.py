"""Document generators for the ingestion tests (imported by every test that
uploads or ingests a file).

Every generator writes one file at `path` (str or pathlib.Path) and returns
the path as str. Text is rendered with Debian's DejaVuSans so French accents
survive both the PDF text layer and OCR. Images are black text on white, in
a big font, so tesseract reads them reliably.

    make_text_pdf(path, pages)            PDF with a text layer, one string per page
    make_scanned_pdf(path, pages)         PDF whose pages are only images (no text layer)
    make_text_png(path, text, size)       PNG of rendered text (for OCR)
    make_tiff(path, text) / make_jpeg(path, text)   the same as TIFF / JPEG
    make_html(path, title, paragraphs, script_text) HTML with <script> and <style>
                                          whose text must never be indexed
"""

import html
import io
import os
import textwrap

FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_NAME = "DejaVuSans"

# Text style for images: big enough for tesseract at any DPI the tests use.
IMAGE_FONT_SIZE = 48
IMAGE_MARGIN = 40


def _register_font():
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT_NAME, FONT_PATH))


def _wrap(text, width):
    lines = []
    for para in str(text).split("\n"):
        lines.extend(textwrap.wrap(para, width) or [""])
    return lines


def make_text_pdf(path, pages):
    """A PDF with a real text layer: page i holds pages[i] (wrapped lines).
    pdftotext ends each page with a form feed, so page numbers are kept."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    _register_font()
    path = str(path)
    c = canvas.Canvas(path, pagesize=A4)
    _w, h = A4
    for text in pages:
        c.setFont(FONT_NAME, 12)
        y = h - 72
        for line in _wrap(text, 80):
            c.drawString(72, y, line)
            y -= 16
            if y < 72:
                break  # one PDF page per entry: tests keep pages short
        c.showPage()
    c.save()
    return path


def render_text_image(text, size=(1400, 500)):
    """A PIL image (mode "L") of text, black on white, wrapped to the width."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT_PATH, IMAGE_FONT_SIZE)
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    # Roughly 0.6 em per character for DejaVuSans.
    per_line = max(8, int((size[0] - 2 * IMAGE_MARGIN) / (IMAGE_FONT_SIZE * 0.6)))
    y = IMAGE_MARGIN
    for line in _wrap(text, per_line):
        draw.text((IMAGE_MARGIN, y), line, font=font, fill=0)
        y += int(IMAGE_FONT_SIZE * 1.4)
        if y > size[1] - IMAGE_MARGIN:
            break
    return img


def make_text_png(path, text, size=(1400, 500)):
    path = str(path)
    render_text_image(text, size).save(path, format="PNG")
    return path


def make_tiff(path, text, size=(1400, 500)):
    path = str(path)
    render_text_image(text, size).save(path, format="TIFF")
    return path


def make_jpeg(path, text, size=(1400, 500)):
    path = str(path)
    render_text_image(text, size).convert("RGB").save(path, format="JPEG", quality=95)
    return path


def make_scanned_pdf(path, pages, size=(1400, 1000)):
    """A PDF whose pages are only images of rendered text: pdftotext finds
    no text layer, so the extractor has to OCR it page by page."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    path = str(path)
    # Page size in points = image size at 150 DPI; pdftoppm -r 150 gives
    # back the same pixels.
    pw, ph = size[0] * 72.0 / 150, size[1] * 72.0 / 150
    c = canvas.Canvas(path, pagesize=(pw, ph))
    for text in pages:
        buf = io.BytesIO()
        render_text_image(text, size).save(buf, format="PNG")
        buf.seek(0)
        c.drawImage(ImageReader(buf), 0, 0, width=pw, height=ph)
        c.showPage()
    c.save()
    return path


def make_html(path, title, paragraphs, script_text="var secretScriptToken = 'zzscriptzz';"):
    """An HTML page: a title, one <p> per paragraph, plus a <script>, a
    <style> and a <noscript> whose text must not be indexed."""
    path = str(path)
    body = "\n".join("    <p>%s</p>" % html.escape(p) for p in paragraphs)
    doc = (
        "<!DOCTYPE html>\n"
        '<html lang="fr">\n'
        "  <head>\n"
        '    <meta charset="utf-8">\n'
        "    <title>%s</title>\n"
        "    <style>body { font-family: zzstylezz; }</style>\n"
        "    <script>%s</script>\n"
        "  </head>\n"
        "  <body>\n"
        "    <h1>%s</h1>\n"
        "%s\n"
        "    <noscript>zznoscriptzz</noscript>\n"
        "    <script>document.write('zzscript2zz');</script>\n"
        "  </body>\n"
        "</html>\n"
    ) % (html.escape(title), script_text, html.escape(title), body)
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)
    return path


def make_text(path, text):
    """A UTF-8 text (or Markdown) file."""
    path = str(path)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def make_binary(path, n=4096):
    """Bytes that are no known type and not UTF-8 (an "unsupported" file)."""
    path = str(path)
    with open(path, "wb") as f:
        f.write(b"\x00\x01\xfe\xff" + os.urandom(n))
    return path
