//! A payment reminder as a printable PDF letter, written without any PDF
//! library.
//!
//! The layout follows a DIN 5008 (form B) business letter on A4: the sender's
//! letterhead small at the top right, a one-line return address and the
//! recipient block in the envelope window (left, 45 mm from the top), place
//! and date right-aligned, the subject in bold, then the body wrapped to the
//! text width (25 mm left and 20 mm right margins) using the real Helvetica
//! glyph widths. A body too long for one page continues on further pages;
//! every page has a small footer with the reference and "Page N of M".
//!
//! The PDF is version 1.4 with the standard (not embedded) Helvetica and
//! Helvetica-Bold fonts in WinAnsiEncoding, uncompressed content streams and
//! a classic cross-reference table. Output has no timestamps or ids: the same
//! letter always gives the same bytes.

/// A letter to render.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Letter {
    /// Tenant name and address lines; the first line is the name.
    pub sender: Vec<String>,
    /// Recipient address lines, as printed in the envelope window.
    pub recipient: Vec<String>,
    /// E.g. "Berlin, 3. März 2025"; printed right-aligned above the subject.
    pub place_and_date: String,
    pub subject: String,
    /// Paragraphs separated by blank lines; a single line break inside a
    /// paragraph is kept as a line break.
    pub body: String,
    /// Printed small in the footer of every page, e.g. the idempotency key.
    pub reference: String,
}

const MM: f64 = 72.0 / 25.4;
const PAGE_WIDTH: f64 = 595.28;
const PAGE_HEIGHT: f64 = 841.89;
/// Left edge of all text (DIN 5008: 25 mm).
const LEFT: f64 = 25.0 * MM;
/// Right edge of all text (DIN 5008: at least 20 mm margin).
const RIGHT: f64 = PAGE_WIDTH - 20.0 * MM;
const TEXT_WIDTH: f64 = RIGHT - LEFT;
/// Width of the address field's text area (window 85 mm, starting 5 mm in).
const WINDOW_TEXT_WIDTH: f64 = 80.0 * MM;

// Vertical positions are baselines, measured from the top edge in points.
const LETTERHEAD_TOP: f64 = 17.0 * MM;
const LETTERHEAD_LAST: f64 = 40.0 * MM;
/// Return address line, at the bottom of the window's endorsement zone (45–62.7 mm).
const RETURN_LINE: f64 = 60.0 * MM;
/// First recipient line, in the window's address zone (62.7–90 mm).
const RECIPIENT_TOP: f64 = 67.0 * MM;
const DATE_LINE: f64 = 100.0 * MM;
const SUBJECT_TOP: f64 = 110.0 * MM;
/// First body line on the second and later pages.
const CONTINUATION_TOP: f64 = 25.0 * MM;
/// No body line below this.
const BODY_BOTTOM: f64 = 270.0 * MM;
const FOOTER_RULE: f64 = 280.0 * MM;
const FOOTER_LINE: f64 = 285.0 * MM;

const LETTERHEAD_NAME_SIZE: f64 = 10.0;
const LETTERHEAD_SIZE: f64 = 8.0;
const LETTERHEAD_LEADING: f64 = 10.0;
const RETURN_SIZE: f64 = 7.0;
const ADDRESS_SIZE: f64 = 10.0;
const ADDRESS_LEADING: f64 = 12.0;
const SUBJECT_SIZE: f64 = 11.0;
const SUBJECT_LEADING: f64 = 14.0;
const BODY_SIZE: f64 = 11.0;
const BODY_LEADING: f64 = 14.5;
const FOOTER_SIZE: f64 = 7.0;

/// A4, PDF 1.4, standard Helvetica/Helvetica-Bold (not embedded) with WinAnsiEncoding.
pub fn render(letter: &Letter) -> Vec<u8> {
    let mut first = Canvas::default();
    draw_first_page_head(&mut first, letter);

    // The subject, wrapped, then the body two lines below it.
    let mut y = SUBJECT_TOP;
    for line in wrap(
        &encode(&letter.subject),
        Font::Bold,
        SUBJECT_SIZE,
        TEXT_WIDTH,
    ) {
        first.text(Font::Bold, SUBJECT_SIZE, LEFT, y, &line);
        y += SUBJECT_LEADING;
    }
    y += 2.0 * BODY_LEADING - SUBJECT_LEADING;

    let mut pages = vec![first];
    let mut at_page_top = false;
    for item in body_lines(&letter.body) {
        match item {
            BodyLine::Gap => {
                if !at_page_top {
                    y += BODY_LEADING;
                }
            }
            BodyLine::Text(line) => {
                if y > BODY_BOTTOM {
                    pages.push(Canvas::default());
                    y = CONTINUATION_TOP;
                }
                pages
                    .last_mut()
                    .expect("a page")
                    .text(Font::Regular, BODY_SIZE, LEFT, y, &line);
                y += BODY_LEADING;
                at_page_top = false;
                continue;
            }
        }
        // A gap that would open a new page is dropped there.
        if y > BODY_BOTTOM {
            pages.push(Canvas::default());
            y = CONTINUATION_TOP;
            at_page_top = true;
        }
    }
    // A page made only for a trailing gap would be empty.
    if pages.len() > 1 && pages.last().is_some_and(|p| p.content.is_empty()) {
        pages.pop();
    }

    let count = pages.len();
    for (i, page) in pages.iter_mut().enumerate() {
        draw_footer(page, &letter.reference, i + 1, count);
    }
    write_document(&pages, &letter.subject)
}

fn draw_first_page_head(page: &mut Canvas, letter: &Letter) {
    // Letterhead: name bold, address lines small, right-aligned at the top.
    let mut y = LETTERHEAD_TOP;
    for (i, line) in letter.sender.iter().enumerate() {
        if y > LETTERHEAD_LAST {
            break;
        }
        let (font, size) = if i == 0 {
            (Font::Bold, LETTERHEAD_NAME_SIZE)
        } else {
            (Font::Regular, LETTERHEAD_SIZE)
        };
        let line = fit(&encode(line), font, size, TEXT_WIDTH / 2.0);
        page.text(font, size, RIGHT - width(&line, font, size), y, &line);
        y += if i == 0 {
            LETTERHEAD_LEADING + 2.0
        } else {
            LETTERHEAD_LEADING
        };
    }

    // Return address: one small line above the recipient, inside the window.
    let senders: Vec<&str> = letter
        .sender
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if !senders.is_empty() {
        let line = fit(
            &encode(&senders.join(" · ")),
            Font::Regular,
            RETURN_SIZE,
            WINDOW_TEXT_WIDTH,
        );
        page.text(Font::Regular, RETURN_SIZE, LEFT, RETURN_LINE, &line);
        let rule_y = PAGE_HEIGHT - RETURN_LINE + 2.0;
        let rule_end = LEFT + width(&line, Font::Regular, RETURN_SIZE);
        page.raw(&format!(
            "0.4 w {} {} m {} {} l S\n",
            num(LEFT),
            num(rule_y),
            num(rule_end),
            num(rule_y)
        ));
    }

    // Recipient.
    let mut y = RECIPIENT_TOP;
    for line in &letter.recipient {
        page.text(Font::Regular, ADDRESS_SIZE, LEFT, y, &encode(line));
        y += ADDRESS_LEADING;
    }

    // Place and date, right-aligned.
    let date = encode(&letter.place_and_date);
    page.text(
        Font::Regular,
        ADDRESS_SIZE,
        RIGHT - width(&date, Font::Regular, ADDRESS_SIZE),
        DATE_LINE,
        &date,
    );

    // Fold marks at 105 mm and 210 mm, punch mark at 148.5 mm (left edge).
    let mut marks = String::from("q 0.5 G 0.3 w\n");
    for (top, length) in [(105.0, 5.0), (148.5, 7.0), (210.0, 5.0)] {
        let y = num(PAGE_HEIGHT - top * MM);
        marks.push_str(&format!(
            "{} {y} m {} {y} l S\n",
            num(3.0 * MM),
            num((3.0 + length) * MM)
        ));
    }
    marks.push_str("Q\n");
    page.raw(&marks);
}

fn draw_footer(page: &mut Canvas, reference: &str, number: usize, count: usize) {
    let rule_y = num(PAGE_HEIGHT - FOOTER_RULE);
    page.raw(&format!(
        "q 0.6 G 0.3 w {} {rule_y} m {} {rule_y} l S Q\n",
        num(LEFT),
        num(RIGHT)
    ));
    let counter = encode(&format!("Page {number} of {count}"));
    let counter_width = width(&counter, Font::Regular, FOOTER_SIZE);
    let reference = fit(
        &encode(reference),
        Font::Regular,
        FOOTER_SIZE,
        TEXT_WIDTH - counter_width - 10.0 * MM,
    );
    page.text(Font::Regular, FOOTER_SIZE, LEFT, FOOTER_LINE, &reference);
    page.text(
        Font::Regular,
        FOOTER_SIZE,
        RIGHT - counter_width,
        FOOTER_LINE,
        &counter,
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Font {
    Regular,
    Bold,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }

    fn base_font(self) -> &'static str {
        match self {
            Font::Regular => "Helvetica",
            Font::Bold => "Helvetica-Bold",
        }
    }

    /// Width of one WinAnsi code in 1/1000 em.
    fn glyph_width(self, code: u8) -> u32 {
        let table = match self {
            Font::Regular => &HELVETICA_WIDTHS,
            Font::Bold => &HELVETICA_BOLD_WIDTHS,
        };
        code.checked_sub(32)
            .map_or(0, |i| u32::from(table[usize::from(i)]))
    }
}

/// Width in points of WinAnsi text.
fn width(text: &[u8], font: Font, size: f64) -> f64 {
    let units: u32 = text.iter().map(|&c| font.glyph_width(c)).sum();
    f64::from(units) * size / 1000.0
}

/// Shortens text that is wider than `max` and ends it with "…".
fn fit(text: &[u8], font: Font, size: f64, max: f64) -> Vec<u8> {
    if width(text, font, size) <= max {
        return text.to_vec();
    }
    let ellipsis = width(&[0x85], font, size);
    let mut fitted = Vec::new();
    let mut used = 0.0;
    for &c in text {
        let w = width(&[c], font, size);
        if used + w + ellipsis > max {
            break;
        }
        fitted.push(c);
        used += w;
    }
    while fitted.last() == Some(&b' ') {
        fitted.pop();
    }
    fitted.push(0x85);
    fitted
}

/// Breaks one line of WinAnsi text into lines no wider than `max`, at
/// spaces; a word wider than a whole line is cut where it must be.
fn wrap(text: &[u8], font: Font, size: f64, max: f64) -> Vec<Vec<u8>> {
    let space = width(b" ", font, size);
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut line_width = 0.0;
    for word in text.split(|&c| c == b' ').filter(|w| !w.is_empty()) {
        let word_width = width(word, font, size);
        if !line.is_empty() && line_width + space + word_width <= max {
            line.push(b' ');
            line.extend_from_slice(word);
            line_width += space + word_width;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        line_width = 0.0;
        for &c in word {
            let w = width(&[c], font, size);
            if !line.is_empty() && line_width + w > max {
                lines.push(std::mem::take(&mut line));
                line_width = 0.0;
            }
            line.push(c);
            line_width += w;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum BodyLine {
    Text(Vec<u8>),
    /// The blank line between two paragraphs.
    Gap,
}

/// The body as wrapped lines, with one gap between paragraphs.
fn body_lines(body: &str) -> Vec<BodyLine> {
    let mut out = Vec::new();
    let mut in_paragraph = false;
    let mut gap_pending = false;
    for line in body.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            gap_pending = in_paragraph;
            continue;
        }
        if gap_pending {
            out.push(BodyLine::Gap);
            gap_pending = false;
        }
        in_paragraph = true;
        out.extend(
            wrap(&encode(line), Font::Regular, BODY_SIZE, TEXT_WIDTH)
                .into_iter()
                .map(BodyLine::Text),
        );
    }
    out
}

/// Unicode to Windows-1252 (WinAnsiEncoding); what it lacks becomes `?`.
fn encode(text: &str) -> Vec<u8> {
    text.chars()
        .filter(|&c| c != '\u{AD}')
        .map(encode_char)
        .collect()
}

fn encode_char(c: char) -> u8 {
    let code = u32::from(c);
    match code {
        0x20..=0x7E | 0xA0..=0xFF => code as u8,
        // Tabs and other whitespace print as a space.
        0x09 | 0x0A | 0x0D | 0x2000..=0x2006 | 0x2008..=0x200A | 0x205F | 0x3000 => b' ',
        // No-break spaces (U+202F groups digits in several locales).
        0x2007 | 0x202F => 0xA0,
        // Hyphens and minus signs.
        0x2010 | 0x2011 | 0x2212 => b'-',
        0x20AC => 0x80,
        0x201A => 0x82,
        0x0192 => 0x83,
        0x201E => 0x84,
        0x2026 => 0x85,
        0x2020 => 0x86,
        0x2021 => 0x87,
        0x02C6 => 0x88,
        0x2030 => 0x89,
        0x0160 => 0x8A,
        0x2039 => 0x8B,
        0x0152 => 0x8C,
        0x017D => 0x8E,
        0x2018 => 0x91,
        0x2019 => 0x92,
        0x201C => 0x93,
        0x201D => 0x94,
        0x2022 => 0x95,
        0x2013 => 0x96,
        0x2014 => 0x97,
        0x02DC => 0x98,
        0x2122 => 0x99,
        0x0161 => 0x9A,
        0x203A => 0x9B,
        0x0153 => 0x9C,
        0x017E => 0x9E,
        0x0178 => 0x9F,
        _ => b'?',
    }
}

/// A PDF literal string: `(`, `)` and `\` escaped, control codes in octal.
fn pdf_string(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    out.push(b'(');
    for &c in text {
        match c {
            b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            0..=0x1F | 0x7F => out.extend_from_slice(format!("\\{c:03o}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b')');
    out
}

/// A number as PDF writes it: at most two decimals, no trailing zeros.
fn num(value: f64) -> String {
    let s = format!("{value:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// One page's content stream.
#[derive(Default)]
struct Canvas {
    content: Vec<u8>,
}

impl Canvas {
    /// Shows WinAnsi text with its baseline `top` points below the top edge.
    fn text(&mut self, font: Font, size: f64, x: f64, top: f64, text: &[u8]) {
        if text.is_empty() {
            return;
        }
        let head = format!(
            "BT /{} {} Tf {} {} Td ",
            font.resource(),
            num(size),
            num(x),
            num(PAGE_HEIGHT - top)
        );
        self.content.extend_from_slice(head.as_bytes());
        self.content.extend_from_slice(&pdf_string(text));
        self.content.extend_from_slice(b" Tj ET\n");
    }

    fn raw(&mut self, operators: &str) {
        self.content.extend_from_slice(operators.as_bytes());
    }
}

/// Serializes the pages: catalog, page tree, fonts, info, then a page and
/// its content stream per page, the xref table and the trailer.
fn write_document(pages: &[Canvas], title: &str) -> Vec<u8> {
    const CATALOG: usize = 1;
    const PAGES: usize = 2;
    const INFO: usize = 5;
    const FIRST_PAGE: usize = 6;
    let page_ids: Vec<usize> = (0..pages.len()).map(|i| FIRST_PAGE + 2 * i).collect();

    let mut objects: Vec<Vec<u8>> = Vec::new();
    objects.push(format!("<< /Type /Catalog /Pages {PAGES} 0 R >>").into_bytes());
    let kids: Vec<String> = page_ids.iter().map(|id| format!("{id} 0 R")).collect();
    objects.push(
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        )
        .into_bytes(),
    );
    for font in [Font::Regular, Font::Bold] {
        objects.push(
            format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{} /Encoding /WinAnsiEncoding >>",
                font.base_font()
            )
            .into_bytes(),
        );
    }
    let title_hex: String = title.encode_utf16().map(|u| format!("{u:04X}")).collect();
    objects.push(format!("<< /Title <FEFF{title_hex}> /Producer (dun) >>").into_bytes());
    for (page, id) in pages.iter().zip(&page_ids) {
        objects.push(
            format!(
                "<< /Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {} {}] /Resources << /ProcSet [/PDF /Text] /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                num(PAGE_WIDTH),
                num(PAGE_HEIGHT),
                id + 1
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", page.content.len()).into_bytes();
        stream.extend_from_slice(&page.content);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }

    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let size = objects.len() + 1;
    out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {size} /Root {CATALOG} 0 R /Info {INFO} 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

/// Glyph widths (1/1000 em) of Helvetica for WinAnsi codes 32..=255, from the Adobe AFM.
const HELVETICA_WIDTHS: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
    350, 556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350, 350,
    222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350, 500, 667, 278, 333, 556,
    556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, 400, 584, 333, 333, 333, 556,
    537, 278, 333, 333, 365, 556, 834, 834, 834, 611, 667, 667, 667, 667, 667, 667, 1000, 722, 667,
    667, 667, 667, 278, 278, 278, 278, 722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722,
    722, 667, 667, 611, 556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278,
    278, 556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

/// Glyph widths (1/1000 em) of Helvetica-Bold for WinAnsi codes 32..=255, from the Adobe AFM.
const HELVETICA_BOLD_WIDTHS: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
    350, 556, 350, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350, 350,
    278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 350, 500, 667, 278, 333, 556,
    556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333, 400, 584, 333, 333, 333, 611,
    556, 278, 333, 333, 365, 556, 834, 834, 834, 611, 722, 722, 722, 722, 722, 722, 1000, 722, 667,
    667, 667, 667, 278, 278, 278, 278, 722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722,
    722, 667, 667, 611, 556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278,
    278, 611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(body: &str) -> Letter {
        Letter {
            sender: vec![
                "Stadtwerke Beispiel GmbH".into(),
                "Hauptstraße 1".into(),
                "10115 Berlin".into(),
            ],
            recipient: vec![
                "Herrn Hans Müller".into(),
                "Gartenweg 5 (Hinterhaus)".into(),
                "80331 München".into(),
            ],
            place_and_date: "Berlin, 3. März 2025".into(),
            subject: "Mahnung für Müller – Rechnung 2025-017 (2. Stufe)".into(),
            body: body.into(),
            reference: "idem-7f3a9c\\01".into(),
        }
    }

    fn long_body() -> String {
        let mut paragraphs = vec!["Sehr geehrter Herr Müller,".to_string()];
        for i in 1..=14 {
            paragraphs.push(format!(
                "Absatz {i}: Trotz unserer Zahlungserinnerung ist der offene Betrag von 1.234,56 € \
                 noch nicht bei uns eingegangen. Wir bitten Sie daher, den Betrag „umgehend“ zu \
                 überweisen, damit keine weiteren Kosten entstehen; Rückfragen beantworten wir gern."
            ));
        }
        paragraphs.push("Zeile eins\nZeile zwei".into());
        paragraphs.push("Mit freundlichen Grüßen – Ihre Buchhaltung ENDE".into());
        paragraphs.join("\n\n")
    }

    fn words(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn page_texts(pdf: &[u8]) -> Vec<String> {
        let doc = lopdf::Document::load_mem(pdf).expect("lopdf loads the PDF");
        assert!(
            doc.xref_recovery.is_none(),
            "xref needed repair: {:?}",
            doc.xref_recovery
        );
        let pages = doc.get_pages();
        pages
            .keys()
            .map(|&n| words(&doc.extract_text(&[n]).expect("text")))
            .collect()
    }

    #[test]
    fn one_page_letter_has_every_part() {
        let pdf = render(&letter(
            "Sehr geehrter Herr Müller,\n\nbitte zahlen Sie 12,50 € bis zum 10.03.2025.\n\nMit freundlichen Grüßen",
        ));
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let pages = page_texts(&pdf);
        assert_eq!(pages.len(), 1);
        let text = &pages[0];
        for expected in [
            "Stadtwerke Beispiel GmbH",
            "Herrn Hans Müller",
            "Gartenweg 5 (Hinterhaus)",
            "80331 München",
            "Berlin, 3. März 2025",
            "Mahnung für Müller – Rechnung 2025-017 (2. Stufe)",
            "bitte zahlen Sie 12,50 € bis zum 10.03.2025.",
            "Mit freundlichen Grüßen",
            "idem-7f3a9c\\01",
            "Page 1 of 1",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text:?}");
        }
    }

    #[test]
    fn long_body_spans_pages() {
        let pdf = render(&letter(&long_body()));
        let pages = page_texts(&pdf);
        assert!(pages.len() >= 2, "{} pages", pages.len());
        let count = pages.len();
        assert!(pages[0].contains("Herrn Hans Müller"));
        assert!(pages[0].contains("Mahnung für Müller"));
        for (i, page) in pages.iter().enumerate() {
            assert!(
                page.contains(&format!("Page {} of {count}", i + 1)),
                "page {i}: {page}"
            );
            assert!(page.contains("idem-7f3a9c"), "page {i}");
        }
        let last = pages.last().unwrap();
        assert!(
            last.contains("Mit freundlichen Grüßen – Ihre Buchhaltung ENDE"),
            "{last}"
        );
        assert!(last.contains("Zeile eins Zeile zwei"), "{last}");
        assert!(!pages[0].contains("ENDE"));
        // Every paragraph made it, in order, across the pages.
        let all = pages.join(" ");
        let mut from = 0;
        for i in 1..=14 {
            let at = all[from..]
                .find(&format!("Absatz {i}:"))
                .expect("paragraph present")
                + from;
            from = at;
        }
        assert!(all.contains("„umgehend“"));
    }

    #[test]
    fn same_letter_same_bytes() {
        let a = render(&letter(&long_body()));
        let b = render(&letter(&long_body()));
        assert_eq!(a, b);
        assert_ne!(a, render(&letter("Kurz.")));
    }

    #[test]
    fn xref_offsets_point_at_objects() {
        let pdf = render(&letter(&long_body()));
        let tail = std::str::from_utf8(&pdf[pdf.len() - 40..]).unwrap();
        let startxref: usize = tail
            .split("startxref\n")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let xref = std::str::from_utf8(&pdf[startxref..]).unwrap();
        let mut lines = xref.split('\n');
        assert_eq!(lines.next(), Some("xref"));
        let (first, size) = lines.next().unwrap().split_once(' ').unwrap();
        assert_eq!(first, "0");
        let size: usize = size.parse().unwrap();
        assert_eq!(lines.next(), Some("0000000000 65535 f "));
        for number in 1..size {
            let entry = lines.next().unwrap();
            assert_eq!(entry.len(), 19, "{entry:?}"); // plus the \n: 20 bytes
            assert!(entry.ends_with(" 00000 n "), "{entry:?}");
            let offset: usize = entry[..10].parse().unwrap();
            let head = format!("{number} 0 obj");
            assert!(
                pdf[offset..].starts_with(head.as_bytes()),
                "object {number} not at {offset}"
            );
        }
        assert_eq!(lines.next(), Some("trailer"));
        let trailer = lines.next().unwrap();
        assert!(trailer.contains(&format!("/Size {size}")), "{trailer}");
        assert!(trailer.contains("/Root 1 0 R"), "{trailer}");
        // Stream lengths are exact too: each content stream, read by its
        // /Length, holds exactly the operators up to the last line.
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        for page in doc.get_pages().values() {
            let contents = doc.get_dictionary(*page).unwrap().get(b"Contents").unwrap();
            let stream = doc
                .get_object(contents.as_reference().unwrap())
                .unwrap()
                .as_stream()
                .unwrap();
            assert!(
                stream.content.starts_with(b"BT /F"),
                "{:?}",
                &stream.content[..10]
            );
            assert!(stream.content.ends_with(b" Tj ET\n"));
        }
    }

    #[test]
    fn winansi_encoding() {
        assert_eq!(
            encode("äöüÄÖÜß é € – — “ ” ‘ ’ „ … •"),
            b"\xE4\xF6\xFC\xC4\xD6\xDC\xDF \xE9 \x80 \x96 \x97 \x93 \x94 \x91 \x92 \x84 \x85 \x95"
                .to_vec()
        );
        assert_eq!(encode("日本 😀 ő"), b"?? ? ?".to_vec());
        assert_eq!(encode("a\tb\u{202F}c\u{AD}d"), b"a b\xA0cd".to_vec());
        assert_eq!(
            pdf_string(b"a(b)c\\d\ne"),
            b"(a\\(b\\)c\\\\d\\012e)".to_vec()
        );
    }

    #[test]
    fn widths_match_the_afm() {
        // H e l l o in Helvetica: 722 + 556 + 222 + 222 + 556.
        assert!((width(b"Hello", Font::Regular, 1000.0) - 2278.0).abs() < 1e-9);
        assert!(
            (width(b"Hello", Font::Bold, 1000.0) - (722.0 + 556.0 + 278.0 + 278.0 + 611.0)).abs()
                < 1e-9
        );
        assert_eq!(Font::Regular.glyph_width(b' '), 278);
        assert_eq!(Font::Regular.glyph_width(0x80), 556); // Euro
        assert_eq!(Font::Regular.glyph_width(0xE4), 556); // adieresis
        assert_eq!(Font::Bold.glyph_width(b'W'), 944);
        assert_eq!(Font::Regular.glyph_width(0xFF), 500); // ydieresis
    }

    #[test]
    fn wrapping_fills_lines_without_overflowing() {
        let text = encode(&long_body().replace('\n', " "));
        let lines = wrap(&text, Font::Regular, BODY_SIZE, TEXT_WIDTH);
        assert!(lines.len() > 20);
        for (i, line) in lines.iter().enumerate() {
            assert!(width(line, Font::Regular, BODY_SIZE) <= TEXT_WIDTH + 1e-9);
            // The next word would not have fit on this line.
            if let Some(next) = lines.get(i + 1) {
                let word = next.split(|&c| c == b' ').next().unwrap();
                let with_next = width(line, Font::Regular, BODY_SIZE)
                    + width(b" ", Font::Regular, BODY_SIZE)
                    + width(word, Font::Regular, BODY_SIZE);
                assert!(with_next > TEXT_WIDTH, "line {i} could have taken {word:?}");
            }
        }
        let rejoined: Vec<u8> = lines.join(&b' ');
        let collapsed: Vec<&[u8]> = text
            .split(|&c| c == b' ')
            .filter(|w| !w.is_empty())
            .collect();
        assert_eq!(rejoined, collapsed.join(&b' '));
    }

    #[test]
    fn overlong_words_are_cut() {
        let word = vec![b'W'; 200];
        let lines = wrap(&word, Font::Regular, BODY_SIZE, TEXT_WIDTH);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), word);
        assert!(
            lines
                .iter()
                .all(|l| width(l, Font::Regular, BODY_SIZE) <= TEXT_WIDTH)
        );
        let fitted = fit(&vec![b'a'; 500], Font::Regular, 7.0, 100.0);
        assert!(width(&fitted, Font::Regular, 7.0) <= 100.0);
        assert_eq!(fitted.last(), Some(&0x85));
    }

    #[test]
    fn paragraphs_and_blank_lines() {
        let lines = body_lines("\n\nA\r\nB\n\n \n\nC\n\n");
        assert_eq!(
            lines,
            vec![
                BodyLine::Text(b"A".to_vec()),
                BodyLine::Text(b"B".to_vec()),
                BodyLine::Gap,
                BodyLine::Text(b"C".to_vec()),
            ]
        );
    }

    #[test]
    fn empty_letter_still_renders() {
        let pdf = render(&Letter::default());
        let pages = page_texts(&pdf);
        assert_eq!(pages, vec!["Page 1 of 1".to_string()]);
    }

    #[test]
    fn numbers_are_short_and_stable() {
        assert_eq!(num(595.28), "595.28");
        assert_eq!(num(70.866_141), "70.87");
        assert_eq!(num(11.0), "11");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(-0.001), "0");
    }
}
