"""The web UI in a real browser: headless Chromium (Debian's `chromium`) driven by playwright
(PyPI, no browser download), against the real `qz serve`.

Walks what a new user does: register → verify → a single-party flow with a seal dragged onto the
page → download and verify; a countersign between two users; an unregistered signer on a
phone-sized screen through the SMS link (code read from the development outbox); an admin
approving an organization; the public verification page. Every step leaves a screenshot in
tests/out/platform/screens/ (look at them).

Codes come from the development outbox through the admin API, as an operator would read them.
The verification page's captcha is fixed by QZ_INSECURE_FIXED_CAPTCHA (tests only).
"""
from __future__ import annotations

import io
import json
import re
import secrets
import shutil
from pathlib import Path

import pytest

from conftest import Platform, id_number, new_phone, out_root, run

sync_api = pytest.importorskip("playwright.sync_api")

CAPTCHA = "2345"
PASSWORD = "Passw0rd!web"
LINK_RE = re.compile(r"/m/sign/([A-Za-z0-9_-]{20,})")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def platform(module_servers) -> Platform:
    server = module_servers.start(backend="sqlite", label="web",
                                  env={"QZ_INSECURE_FIXED_CAPTCHA": CAPTCHA})
    return Platform(server)


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium (scripts/setup-test-env installs it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def screens() -> Path:
    d = out_root() / "screens"
    d.mkdir(parents=True, exist_ok=True)
    return d


class Tab:
    """One browser context (its own cookies) with a page, console errors collected and
    screenshots named after the test."""

    def __init__(self, browser, platform: Platform, screens: Path, label: str, viewport=DESKTOP,
                 locale="zh-CN"):
        self.platform, self.screens, self.label = platform, screens, label
        self.context = browser.new_context(viewport=viewport, locale=locale,
                                           accept_downloads=True)
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.shots = 0

    def url(self, path: str) -> str:
        return self.platform.server.url(path)

    def go(self, path: str):
        self.page.goto(self.url(path))
        self.page.wait_for_load_state("networkidle")

    def shot(self, name: str):
        self.shots += 1
        self.page.screenshot(path=str(self.screens / f"{self.label}-{self.shots:02d}-{name}.png"),
                             full_page=True)

    def code(self, phone: str, after: list[str] | None = None) -> str:
        return self.platform.latest_code(phone, after=after)

    def outbox_ids(self, phone: str) -> list[str]:
        return [m["id"] for m in self.platform.outbox(phone)]

    def no_script_errors(self):
        # A 4xx the page handled shows in the console as a failed resource: not a script error.
        real = [e for e in self.errors if "Failed to load resource" not in e]
        assert not real, real

    def close(self):
        # The page as it was left: the first thing to look at when a step failed.
        try:
            self.shot("last")
        except Exception:  # noqa: BLE001 - a closed page has nothing to show
            pass
        if self.errors:
            print(f"{self.label}: browser console errors: {self.errors}")
        self.context.close()


@pytest.fixture
def tabs(browser, platform, screens, request):
    made: list[Tab] = []

    def make(label: str, **kw) -> Tab:
        tab = Tab(browser, platform, screens, f"{request.node.name}-{label}", **kw)
        made.append(tab)
        return tab

    yield make
    for tab in made:
        tab.close()


def pdf_bytes(pages: int = 2, text: str = "Qianzhang web test") -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for n in range(pages):
        c.setFont("Helvetica", 14)
        c.drawString(72, 770, f"{text} - page {n + 1} - {secrets.token_hex(4)}")
        for line in range(30):
            c.drawString(72, 730 - line * 20, f"Clause {line + 1}. The parties agree to the terms set out here.")
        c.showPage()
    c.save()
    return buf.getvalue()


# --------------------------------------------------------------------------- UI steps

def register(tab: Tab, name: str) -> str:
    """Registers through the page; answers the phone number."""
    phone = new_phone()
    tab.go("/register")
    page = tab.page
    page.get_by_label("姓名").fill(name)
    page.get_by_label("手机号").fill(phone)
    before = tab.outbox_ids(phone)
    page.get_by_role("button", name="获取验证码").click()
    page.get_by_label("验证码").fill(tab.code(phone, before))
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_label("确认密码").fill(PASSWORD)
    tab.shot("register")
    page.get_by_role("button", name="注册").click()
    page.wait_for_url("**/identity")
    return phone


def verify_identity(tab: Tab, name: str):
    page = tab.page
    page.get_by_label("真实姓名").fill(name)
    page.get_by_label("身份证号").fill(id_number())
    page.get_by_role("button", name="提交认证").click()
    page.get_by_text("已认证").wait_for()
    tab.shot("verified")


def login(tab: Tab, phone: str, password: str = PASSWORD):
    tab.go("/login")
    tab.page.get_by_label("手机号").fill(phone)
    tab.page.get_by_label("密码", exact=True).fill(password)
    tab.page.get_by_role("button", name="登录").last.click()
    tab.page.wait_for_url(lambda url: "/login" not in url)


def upload_in_wizard(tab: Tab, pdf: bytes, name: str, title: str):
    tab.go("/flows/new")
    page = tab.page
    page.set_input_files("#file-input", files=[{"name": name, "mimeType": "application/pdf",
                                                "buffer": pdf}])
    page.get_by_text("已上传").wait_for()
    page.get_by_label("文件主题").fill(title)
    tab.shot("files")
    page.locator("#to-2").click()


def loaded(page, timeout: float = 30):
    """Waits until the first page image has loaded (evaluated as a function call: the pages'
    Content-Security-Policy refuses string evaluation, as it should)."""
    import time
    image = page.locator(".page img.sheet").first
    image.wait_for()
    deadline = time.monotonic() + timeout
    while not image.evaluate("img => img.complete && img.naturalWidth > 0"):
        assert time.monotonic() < deadline, "page image did not load"
        time.sleep(0.1)


def drag(page, source, target, dx: float = 0.5, dy: float = 0.6):
    """Drags `source` to the point (dx, dy) of `target`'s box with the mouse."""
    s = source.bounding_box()
    t = target.bounding_box()
    page.mouse.move(s["x"] + s["width"] / 2, s["y"] + s["height"] / 2)
    page.mouse.down()
    x, y = t["x"] + t["width"] * dx, t["y"] + t["height"] * dy
    page.mouse.move(x, y, steps=12)
    page.mouse.up()


def sign_with_code(tab: Tab, phone: str):
    page = tab.page
    page.locator("#finish").click()
    page.get_by_role("button", name="确认完成").click()
    before = tab.outbox_ids(phone)
    page.locator("#sign-send").click()
    page.get_by_label("短信验证码").fill(tab.code(phone, before))
    tab.shot("intent")
    page.locator("#sign-confirm").click()
    page.wait_for_url(re.compile(r"/flows/(?!new$)[^/]+$"))
    page.wait_for_load_state("networkidle")


def download_first_document(tab: Tab) -> bytes:
    with tab.page.expect_download() as info:
        tab.page.locator("button.download-doc").first.click()
    return Path(info.value.path()).read_bytes()


def qz_verify(qz: Path, pdf: bytes, directory: Path, root: Path) -> dict:
    path = directory / f"web-{secrets.token_hex(4)}.pdf"
    path.write_bytes(pdf)
    r = run([qz, "verify", "--json", "--trust", root, path], timeout=120)
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def root_pem(platform, tmp_path_factory) -> Path:
    import requests
    d = tmp_path_factory.mktemp("web-pki")
    der = requests.get(platform.server.url("/pki/cert/root.crt"), timeout=30).content
    (d / "root.der").write_bytes(der)
    r = run(["openssl", "x509", "-inform", "DER", "-in", d / "root.der", "-out", d / "root.pem"])
    assert r.returncode == 0, r.stderr
    return d / "root.pem"


# --------------------------------------------------------------------------- the tests

def test_register_verify_sign_alone_download_and_verify(tabs, qz, root_pem, tmp_path):
    tab = tabs("alone")
    phone = register(tab, "王小明")
    verify_identity(tab, "王小明")
    tab.go("/")
    tab.page.get_by_role("tab", name=re.compile("待我签署")).wait_for()
    tab.shot("home-empty")

    upload_in_wizard(tab, pdf_bytes(2), "采购合同.pdf", "采购合同（单方）")
    page = tab.page
    # Only me: the wizard adds me when I come to the signers step.
    page.locator("#signers").get_by_text("本人").wait_for()
    tab.shot("signers")
    page.locator("#to-3").click()
    page.locator(".page img.sheet").first.wait_for()
    page.locator("#to-4").click()
    tab.shot("confirm")
    page.locator("#start-submit").click()

    # I am the signer: the signing page opens; drag my name seal onto page 1.
    page.wait_for_url(re.compile(r"/flows/[^/]+/sign$"))
    page.locator(".page img.sheet").first.wait_for()
    loaded(page)
    seal = page.locator("#seal-list .seal-item:not(.date-item)").first
    seal.wait_for()
    drag(page, seal, page.locator(".page").first, 0.7, 0.8)
    mark = page.locator(".page .mark").first
    mark.wait_for()
    # And the date stamp (签署日期) under it.
    drag(page, page.locator("#seal-list .date-item"), page.locator(".page").first, 0.7, 0.9)
    page.locator(".page .mark.date-mark").wait_for()
    assert page.locator("#stats").inner_text().startswith("共 2 处")
    tab.shot("placed")
    sign_with_code(tab, phone)

    page.get_by_text("已完成").first.wait_for()
    tab.shot("completed")
    pdf = download_first_document(tab)
    # The signed page as the server renders it, kept beside the screenshots to look at.
    signed = tab.screens / "alone-signed.pdf"
    signed.write_bytes(pdf)
    r = run([qz, "render", signed, "--page", "1", "--width", "900", "-o", tab.screens / "alone-signed-page1.png"])
    assert r.returncode == 0, r.stderr
    report = qz_verify(qz, pdf, tmp_path, root_pem)
    assert report["verdict"] == "VALID", report
    [sig] = report["signatures"]
    assert sig["signer"]["common_name"] == "王小明"
    assert sig["timestamp"] is not None
    # The seal sits where it was dropped: lower right of page 1 (y from the bottom).
    marks = [m for m in sig.get("marks", []) if m["page"] == 1]
    assert len(marks) == 2, sig
    mark_rect = max(marks, key=lambda m: m["rect"][3])  # the seal is taller than the date
    x, y, w, h = mark_rect["rect"]
    assert 595 * 0.5 < x + w / 2 < 595 * 0.9 and 842 * 0.1 < y + h / 2 < 842 * 0.35, mark_rect
    tab.no_script_errors()


def test_countersign_between_two_users(tabs, platform, qz, root_pem, tmp_path):
    a, b = tabs("a"), tabs("b", viewport=PHONE)  # B signs on a phone-sized screen
    phone_a = register(a, "李甲")
    verify_identity(a, "李甲")
    phone_b = register(b, "赵乙")
    verify_identity(b, "赵乙")

    upload_in_wizard(a, pdf_bytes(1), "会签文件.pdf", "会签：年度预算")
    page = a.page
    page.get_by_role("button", name="+ 个人（手机号）").click()
    page.locator("dialog").get_by_label("手机号", exact=True).fill(phone_b)
    page.get_by_role("button", name="确定").click()
    page.locator("#signers .signer").nth(1).wait_for()
    a.shot("two-signers")
    page.locator("#to-3").click()
    # Preset B's position by dragging B onto the page.
    page.locator(".page img.sheet").first.wait_for()
    drag(page, page.locator("#preset-signers .seal-item").nth(1), page.locator(".page").first, 0.3, 0.85)
    page.locator(".mark.preset").wait_for()
    a.shot("preset")
    page.locator("#to-4").click()
    page.locator("#start-submit").click()
    page.wait_for_url(re.compile(r"/flows/[^/]+/sign$"))
    flow_id = page.url.rstrip("/").split("/")[-2]

    page.locator("#seal-list .seal-item:not(.date-item)").first.wait_for()
    loaded(page)
    drag(page, page.locator("#seal-list .seal-item:not(.date-item)").first, page.locator(".page").first, 0.75, 0.85)
    sign_with_code(a, phone_a)
    page.get_by_text("待签署").first.wait_for()
    a.shot("a-signed")
    # On A's home page it is under 待他人签署 now, and nothing waits for A.
    a.go("/")
    a.page.get_by_role("tab", name=re.compile("待他人签署")).click()
    a.page.locator("#inbox tr", has_text="会签：年度预算").wait_for()
    assert a.page.locator('[data-count="todo"]').inner_text() == "0"
    a.shot("waiting-others")

    # B finds it under 待我签署 and uses 一键盖章 at the preset.
    b.go("/")
    row = b.page.locator("#inbox tr", has_text="会签：年度预算")
    row.wait_for()
    assert b.page.locator('[data-count="todo"]').inner_text() == "1"
    b.shot("todo")
    row.get_by_role("link", name="去签署").click()
    b.page.locator(".mark.preset").wait_for()
    loaded(b.page)
    b.shot("sign-phone")
    b.page.get_by_role("button", name="一键盖章").click()
    b.page.get_by_role("button", name="确认完成").click()
    before = b.outbox_ids(phone_b)
    b.page.locator("#sign-send").click()
    b.page.get_by_label("短信验证码").fill(b.code(phone_b, before))
    b.page.locator("#sign-confirm").click()
    b.page.wait_for_url(re.compile(r"/flows/(?!new$)[^/]+$"))
    b.page.get_by_text("已完成").first.wait_for()
    b.shot("completed")

    pdf = download_first_document(b)
    report = qz_verify(qz, pdf, tmp_path, root_pem)
    assert [s["signer"]["common_name"] for s in report["signatures"]] == ["李甲", "赵乙"], report
    assert report["verdict"] in ("VALID", "ALLOWED_CHANGE"), report
    # B's seal went to the preset: lower left.
    second = [m for m in report["signatures"][1].get("marks", []) if m["page"] == 1]
    assert second and second[0]["rect"][0] < 595 * 0.5, second
    # The trail is on the detail page.
    b.go(f"/flows/{flow_id}")
    b.page.locator("#flow-trail li").nth(2).wait_for()
    b.shot("detail")
    for tab in (a, b):
        tab.no_script_errors()


def test_unregistered_signer_on_a_phone(tabs, platform):
    sender = tabs("sender")
    phone_s = register(sender, "孙发起")
    verify_identity(sender, "孙发起")
    guest_phone, guest_id = new_phone(), id_number()

    upload_in_wizard(sender, pdf_bytes(1), "外部确认函.pdf", "外部确认函")
    page = sender.page
    page.locator("#signers .signer").first.get_by_role("button", name="删除").click()
    page.get_by_role("button", name="+ 外部个人（未注册）").click()
    dialog = page.locator("dialog")
    dialog.get_by_label("姓名", exact=True).fill("周外部")
    dialog.get_by_label("手机号", exact=True).fill(guest_phone)
    dialog.get_by_label("身份证号", exact=True).fill(guest_id)
    page.get_by_role("button", name="确定").click()
    page.locator("#signers .signer").first.wait_for()
    page.locator("#to-3").click()
    page.locator("#to-4").click()
    page.locator("#start-submit").click()
    page.wait_for_url(re.compile(r"/flows/(?!new$)[^/]+$"))
    page.locator("#flow-signers").get_by_text("周外部").wait_for()
    sender.shot("sent")

    # The SMS link, from the outbox.
    body = next(m["body"] for m in platform.outbox(guest_phone) if LINK_RE.search(m.get("body", "")))
    token = LINK_RE.search(body).group(1)
    guest = tabs("guest", viewport=PHONE)
    guest.go(f"/m/sign/{token}")
    gp = guest.page
    gp.get_by_text("周外部").wait_for()
    guest.shot("link")
    before = guest.outbox_ids(guest_phone)
    gp.locator("#guest-send").click()
    gp.get_by_label("短信验证码").fill(guest.code(guest_phone, before))
    gp.get_by_role("button", name="查看并签署").click()
    gp.locator(".page img.sheet").first.wait_for()
    loaded(gp)
    guest.shot("reading")
    # A handwritten signature, drawn with the finger (mouse here).
    gp.get_by_role("button", name="手写签名").click()
    pad = gp.locator("#pad").bounding_box()
    gp.mouse.move(pad["x"] + 40, pad["y"] + 150)
    gp.mouse.down()
    for i in range(1, 20):
        gp.mouse.move(pad["x"] + 40 + i * 14, pad["y"] + 150 - (i % 5) * 18, steps=2)
    gp.mouse.up()
    guest.shot("drawn")
    gp.get_by_role("button", name="使用此签名").click()
    gp.get_by_text("手写签名已保存").wait_for()
    drag(gp, gp.locator("#guest-seals .seal-item[aria-pressed=true]"), gp.locator(".page").first, 0.6, 0.8)
    gp.locator(".page .mark").wait_for()
    before = guest.outbox_ids(guest_phone)
    gp.locator("#guest-sign-send").click()
    gp.get_by_label("签署验证码").fill(guest.code(guest_phone, before))
    guest.shot("ready")
    gp.get_by_role("button", name="确认签署").click()
    gp.get_by_text("签署完成").wait_for()
    guest.shot("signed")

    # The sender sees it completed.
    sender.page.reload()
    sender.page.get_by_text("已完成").first.wait_for()
    sender.shot("completed")
    for tab in (sender, guest):
        tab.no_script_errors()


def test_admin_approves_an_organization(tabs, platform):
    applicant = platform.register(name="钱申请")
    platform.verify_identity(applicant, "钱申请")
    name = f"网页审核测试有限公司{secrets.token_hex(3)}"
    request = platform.submit_company(applicant, name=name)

    admin = tabs("admin")
    login(admin, "admin", platform.server.admin_password)
    admin.go("/admin")
    admin.page.get_by_role("tab", name=re.compile("认证审核")).click()
    row = admin.page.locator(f'[data-request-id="{request["id"]}"]')
    row.wait_for()
    admin.shot("review")
    row.get_by_role("button", name="通过").click()
    confirm = admin.page.locator("dialog").get_by_role("button", name=re.compile("确定|通过"))
    if confirm.count():
        confirm.first.click()
    admin.page.wait_for_load_state("networkidle")
    admin.shot("approved")
    out = applicant.api.ok("GET", f"/requests/{request['id']}")
    assert out["status"] == "approved", out
    orgs = applicant.api.ok("GET", "/orgs")
    assert any(o.get("name") == name for o in (orgs.get("items", orgs) if isinstance(orgs, dict) else orgs)), orgs
    admin.no_script_errors()


def test_verification_page(tabs, platform, tmp_path):
    # A file the platform signed (through the API), then the page checks it, and a tampered copy.
    user = platform.register(name="吴验证")
    platform.verify_identity(user, "吴验证")
    blob = platform.upload(user.api, pdf_bytes(1))
    seal = next(s for s in user.api.ok("GET", "/me/seals") if s["status"] == "enabled")
    code = platform.send_code("sign", user.phone, api=user.api)
    r = user.api.post("/stamp", {"document": blob["id"], "seal_id": seal["id"], "code": code,
                                 "page": 1, "x": 300, "y": 120})
    assert r.status_code in (200, 201), r.text
    signed = user.api.get(f"/blobs/{r.json()['blob_id']}").content
    path = tmp_path / "已签署.pdf"
    path.write_bytes(signed)

    tab = tabs("verify")
    tab.go("/verify")
    tab.shot("empty")
    tab.page.set_input_files("input[type=file]", str(path))
    tab.page.get_by_label(re.compile("验证码")).fill(CAPTCHA)
    tab.page.get_by_role("button", name=re.compile("开始验证")).click()
    tab.page.locator(".mark.found").first.wait_for()
    text = tab.page.locator("main").inner_text()
    assert "吴验证" in text, text
    tab.shot("report")

    # One byte of the header comment line: inside the signed range, harmless to the parser.
    tampered = bytearray(signed)
    at = signed.index(b"\n", 9) - 2
    assert signed.startswith(b"%PDF-") and at > 12, signed[:40]
    tampered[at] ^= 0x01
    bad = tmp_path / "被篡改.pdf"
    bad.write_bytes(bytes(tampered))
    tab.go("/verify")
    tab.page.set_input_files("input[type=file]", str(bad))
    tab.page.get_by_label(re.compile("验证码")).fill(CAPTCHA)
    tab.page.get_by_role("button", name=re.compile("开始验证")).click()
    tab.page.locator(".sig.bad, .verdict.bad").first.wait_for()
    tab.shot("tampered")
    tab.no_script_errors()


def test_english_and_phone_width(tabs, platform):
    tab = tabs("en", viewport=PHONE)
    tab.go("/login?lang=en")
    tab.page.get_by_role("heading", name="Log in").wait_for()
    tab.shot("login-en")
    # The choice sticks (cookie) and the navigation is translated.
    tab.go("/register")
    tab.page.get_by_role("heading", name="Create an account").wait_for()
    tab.go("/login?lang=zh-CN")
    tab.page.get_by_role("heading", name="登录").wait_for()
    # A page that needs a login sends there, keeping where to return.
    tab.go("/flows/new")
    assert "/login?next=/flows/new" in tab.page.url
    tab.no_script_errors()
