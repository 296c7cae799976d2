//! Text documents written from scratch (the completion report): they open with our own
//! reader, break into pages, and take a signature revision like any uploaded PDF.

use qz_pdf::{Document, Font, ReportLine, SignatureOptions, text_document};

// Every test needs a CJK font: fonts-wqy-zenhei or fonts-noto-cjk (scripts/setup-test-env
// installs them); without one `Font::system_cjk()` is None and the test stops there.
#[test]
fn a_long_report_breaks_into_pages_and_can_be_signed() {
    let font = Font::system_cjk().unwrap();
    let mut lines = vec![ReportLine::heading("签署完成报告 Signing report")];
    for i in 0..120 {
        lines.push(ReportLine::body(format!(
            "#{i} 2026-12-03 10:00:00 document.signed 张三 IP 127.0.0.1 哈希 0123456789abcdef0123456789abcdef0123456789abcdef"
        )));
    }
    let pdf = text_document("报告", &lines, &font).unwrap();
    let document = Document::open(&pdf).unwrap();
    let pages = document.pages().len();
    assert!(pages >= 3, "{pages} pages for 120 wrapped lines");
    for page in document.pages() {
        assert!((page.geometry.display_width() - 595.28).abs() < 0.01);
    }
    let options = SignatureOptions {
        signing_time: "D:20261203100000+08'00'".into(),
        contents_capacity: 64,
        ..Default::default()
    };
    let prepared = document.prepare_signature(&options).unwrap();
    let tail = prepared.finish(&[0x30, 0x00]).unwrap();
    let signed = [pdf.as_slice(), &tail].concat();
    assert_eq!(Document::open(&signed).unwrap().pages().len(), pages);
    // The text stays extractable: one ToUnicode map for the one embedded subset.
    let text = String::from_utf8_lossy(&pdf);
    assert_eq!(text.matches("/ToUnicode").count(), 1);
    assert!(text.contains("/Identity-H"));
}

#[test]
fn a_character_the_font_lacks_is_shown_as_a_question_mark() {
    let font = Font::system_cjk().unwrap();
    let lines = vec![ReportLine::body("\u{10FFFD}")];
    let pdf = text_document("x", &lines, &font).unwrap();
    assert_eq!(Document::open(&pdf).unwrap().pages().len(), 1);
}

#[test]
fn an_empty_report_is_one_page() {
    let pdf = text_document("空", &[], &Font::system_cjk().unwrap()).unwrap();
    assert_eq!(Document::open(&pdf).unwrap().pages().len(), 1);
}
