"""A planted corpus for the secrets scan: a small project tree with secrets planted at known lines and decoys
(references, placeholders, digests, ids, prose) that must not be reported.

Every value is generated from a seeded RNG when the tree is built, so no secret-shaped literal sits in this
file (it would be reported when Siaga audits itself). Fake tokens keep their real formats (AWS, GitHub,
Slack, Stripe, SendGrid, JWT, PEM) so detect-secrets' plugins see what they would see in the wild.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import string
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

B64 = string.ascii_letters + string.digits + "+/"
ALNUM = string.ascii_letters + string.digits
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip."
)
ENV_NAMES = (
    "DB_PASSWORD", "POSTGRES_PASSWORD", "MYSQL_ROOT_PASSWORD", "REDIS_PASSWORD", "SMTP_PASSWORD", "API_TOKEN",
    "GITHUB_TOKEN", "SECRET_KEY", "JWT_SECRET", "STRIPE_API_KEY", "SLACK_BOT_TOKEN", "RABBITMQ_DEFAULT_PASS",
    "MONGO_INITDB_ROOT_PASSWORD", "SENTRY_AUTH_TOKEN", "OIDC_CLIENT_SECRET", "MINIO_SECRET_KEY",
)  # fmt: skip


@dataclass(frozen=True)
class Planted:
    path: str
    line: int
    value: str
    kind: str


@dataclass(frozen=True)
class Decoy:
    path: str
    line: int
    kind: str


@dataclass
class Corpus:
    root: Path
    planted: list[Planted] = field(default_factory=list)
    decoys: list[Decoy] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # paths holding secrets that must not be scanned


class _File:
    def __init__(self, corpus: Corpus, rel: str) -> None:
        self.corpus, self.rel, self.lines = corpus, rel, []

    def text(self, *lines: str) -> None:
        self.lines.extend(lines)

    def plant(self, line: str, value: str, kind: str, *, value_on_line: bool = True) -> None:
        assert value in line or not value_on_line, (line, value)
        self.lines.append(line)
        self.corpus.planted.append(Planted(self.rel, len(self.lines), value, kind))

    def decoy(self, line: str, kind: str) -> None:
        self.lines.append(line)
        self.corpus.decoys.append(Decoy(self.rel, len(self.lines), kind))

    def write(self) -> None:
        path = self.corpus.root / self.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines) + "\n")


class Fakes:
    """Format-valid fake secrets and realistic non-secrets, from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seen: set[str] = set()

    def _pick(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def unique(self, make) -> str:
        while (value := make()) in self.seen:
            pass
        self.seen.add(value)
        return value

    def password(self) -> str:
        words = ("harimau", "kopi", "merdeka", "Sunset", "garuda", "Rinjani", "bakso", "Toba", "nasi")
        return self.unique(
            lambda: (
                self.rng.choice(words)
                + self.rng.choice("!@#%&*-_.")
                + str(self.rng.randint(10, 9999))
                + self.rng.choice(words).upper()[:3]
            )
        )

    def aws_access_key(self) -> str:
        return self.unique(lambda: "AKIA" + self._pick(string.ascii_uppercase + "234567", 16))

    def aws_secret(self) -> str:
        return self.unique(lambda: self._pick(B64, 40))

    def github(self) -> str:
        return self.unique(lambda: self.rng.choice(("ghp", "gho", "ghs")) + "_" + self._pick(ALNUM, 36))

    def slack(self) -> str:
        digits = string.digits
        return self.unique(
            lambda: (
                f"xoxb-{self._pick(digits, 11)}-{self._pick(digits, 12)}-"
                + self._pick(string.ascii_lowercase + digits, 24)
            )
        )

    def slack_webhook(self) -> str:
        up = string.ascii_uppercase + string.digits
        return self.unique(
            lambda: (
                f"https://hooks.slack.com/services/T{self._pick(up, 8)}/B{self._pick(up, 10)}/"
                + self._pick(ALNUM, 24)
            )
        )

    def stripe(self) -> str:
        return self.unique(lambda: "sk_" + "live_" + self._pick(ALNUM, 24))

    def sendgrid(self) -> str:
        url = ALNUM + "-_"
        return self.unique(lambda: f"SG.{self._pick(url, 22)}.{self._pick(url, 43)}")

    def api_key(self) -> str:
        return self.unique(lambda: self._pick(ALNUM, self.rng.choice((32, 40, 48))))

    def b64_key(self) -> str:
        return self.unique(lambda: base64.b64encode(self.rng.randbytes(30)).decode())

    def jwt(self) -> str:
        def part(obj: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        def make() -> str:
            head = part({"alg": "HS256", "typ": "JWT"})
            body = part(
                {"sub": str(self.rng.randint(1, 10**6)), "iat": 1_700_000_000 + self.rng.randint(0, 10**6)}
            )
            sig = hmac.new(self.rng.randbytes(16), f"{head}.{body}".encode(), hashlib.sha256).digest()
            return f"{head}.{body}." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()

        return self.unique(make)

    def pem_body(self) -> list[str]:
        raw = base64.b64encode(self.rng.randbytes(48 * 6)).decode()
        return [raw[i : i + 64] for i in range(0, len(raw), 64)]

    def sha256(self) -> str:
        return hashlib.sha256(self.rng.randbytes(16)).hexdigest()

    def sha1(self) -> str:
        return hashlib.sha1(self.rng.randbytes(16)).hexdigest()  # noqa: S324 (a commit id, not security)

    def uuid(self) -> str:
        return str(uuid.UUID(bytes=self.rng.randbytes(16), version=4))

    def text_b64(self) -> str:
        start = self.rng.randint(0, 60)
        return base64.b64encode(LOREM[start : start + self.rng.randint(40, 90)].encode()).decode()


def build_corpus(root: Path, seed: int = 20240611) -> Corpus:
    """Write the corpus under ``root``: ≥ 100 planted secrets and ≥ 300 decoys, each at a recorded line."""
    corpus, fake = Corpus(root), Fakes(seed)
    files: list[_File] = []

    def new(rel: str) -> _File:
        files.append(_File(corpus, rel))
        return files[-1]

    _compose(new, fake)
    _env_files(new, fake)
    _yaml_config(new, fake)
    _python(new, fake)
    _javascript(new, fake)
    _go(new, fake)
    _ops(new, fake)
    _keys(new, fake)
    _docs(new, fake)
    _hard_cases(new, fake)
    for f in files:
        f.write()
    _skipped(corpus, fake)
    return corpus


def _compose(new, fake: Fakes) -> None:
    for n in range(4):
        f = new(f"deploy/stack{n}/docker-compose.yml")
        f.text("services:", "  db:", "    image: postgres:16.3", "    environment:")
        f.plant(f"      POSTGRES_PASSWORD: {(pw := fake.password())}", pw, "compose-env")
        f.decoy("      POSTGRES_USER: app", "plain-user")
        f.decoy("      POSTGRES_HOST_AUTH_METHOD: scram-sha-256", "auth-method")
        f.plant(f"      - MYSQL_ROOT_PASSWORD={(pw := fake.password())}", pw, "compose-list")
        f.decoy("      MYSQL_PASSWORD: ${MYSQL_PASSWORD}", "env-ref")
        f.decoy("      MYSQL_PASSWORD_FILE: /run/secrets/mysql_password", "secret-file")
        f.decoy("      - REDIS_PASSWORD=${REDIS_PASSWORD:?set REDIS_PASSWORD}", "env-ref-required")
        f.plant(
            f"      RABBITMQ_DEFAULT_PASS: ${{RABBITMQ_DEFAULT_PASS:-{(pw := fake.password())}}}",
            pw,
            "default",
        )
        f.decoy("      SMTP_PASSWORD: ${SMTP_PASSWORD:-}", "env-ref-empty-default")
        f.plant(f"      DATABASE_URL: postgres://app:{(pw := fake.password())}@db:5432/app", pw, "url")
        f.decoy("      CACHE_URL: redis://:${REDIS_PASSWORD}@cache:6379/0", "url-ref")
        f.decoy(f"      BUILD_SHA: {fake.sha1()}", "commit")
        f.decoy("      TZ: Asia/Jakarta", "plain")
        f.text("  cache:", "    image: redis:7.2")
        f.plant(f"    command: redis-server --requirepass {(pw := fake.password())}", pw, "flag")
        f.decoy("    healthcheck: {test: [CMD, redis-cli, ping]}", "plain")
        f.text("secrets:", "  db_password:")
        f.decoy("    file: ./secrets/db_password.txt", "secret-file")


def _env_files(new, fake: Fakes) -> None:
    for n, rel in enumerate((".env", "config/app.env", ".env.production", "services/api/.env")):
        f = new(rel)
        f.text("# application settings")
        f.plant(f"DB_PASSWORD={(pw := fake.password())}", pw, "dotenv")
        f.plant(f"export SECRET_KEY={(key := fake.api_key())}", key, "dotenv")
        f.plant(f'SMTP_PASS="{(pw := fake.password())}"', pw, "dotenv")
        if n % 2 == 0:
            f.plant(f"AWS_ACCESS_KEY_ID={(key := fake.aws_access_key())}", key, "aws")
            f.plant(f"AWS_SECRET_ACCESS_KEY={(key := fake.aws_secret())}", key, "aws-secret")
        else:
            f.plant(f"STRIPE_API_KEY={(key := fake.stripe())}", key, "stripe")
        f.decoy("API_TOKEN=", "empty")
        f.decoy("REDIS_PASSWORD=${REDIS_PASSWORD}", "env-ref")
        f.decoy("JWT_SECRET=<generate with openssl rand -hex 32>", "placeholder")
        f.decoy("OIDC_CLIENT_SECRET=xxxxxxxxxxxxxxxx", "mask")
        f.decoy("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "aws-doc-example")
        f.decoy("PASSWORD_MIN_LENGTH=12", "about")
        f.decoy("TOKEN_TTL_SECONDS=3600", "about")
        f.decoy(f"RELEASE={fake.sha1()}", "commit")
        f.decoy(f"INSTANCE_ID={fake.uuid()}", "uuid")
        f.decoy("APP_VERSION=2.14.0", "version")
        f.decoy("PUBLIC_URL=https://siaga.example.id/app", "url")


def _yaml_config(new, fake: Fakes) -> None:
    for n in range(4):
        f = new(f"config/settings.{n}.yaml")
        f.text("database:", "  host: db.internal", "  user: app")
        f.plant(f"  password: {(pw := fake.password())}", pw, "yaml")
        f.decoy("  password_file: /etc/siaga/db_password", "about")
        f.text("smtp:")
        f.plant(f'  password: "{(pw := fake.password())}"', pw, "yaml-quoted")
        f.decoy('  password_env: "SMTP_PASSWORD"', "about")
        f.text("api:")
        f.plant(f"  token: {(tok := fake.api_key())}", tok, "yaml-token")
        f.decoy("  token_url: https://auth.example.id/oauth/token", "about")
        f.decoy("  auth_method: client_secret_basic", "about")
        f.decoy("  secret: ${API_SECRET}", "env-ref")
        f.decoy('  credentials: "{{ env "API_CREDENTIALS" }}"', "template")
        f.decoy("  api_key: '{{ .Values.api.key | quote }}'", "template")
        f.decoy("  password: ~", "null")
        f.decoy("  secret: REDACTED", "redacted")
        f.decoy("  token: '***'", "mask")
        f.decoy(f"  checksum: sha256:{fake.sha256()}", "digest")
        f.decoy(f"  trace_id: {fake.uuid()}", "uuid")
    f = new("k8s/deployment.yaml")
    f.text(
        "apiVersion: apps/v1", "kind: Deployment", "spec:", "  template:", "    spec:", "      containers:"
    )
    f.text("        - name: api", "          image: registry.example.id/api:1.4.2", "          env:")
    for _ in range(4):
        f.text("            - name: DB_PASSWORD")
        f.plant(f'              value: "{(pw := fake.password())}"', pw, "k8s-env")
        f.decoy("            - name: LOG_LEVEL", "plain")
        f.decoy("              value: info", "plain")
        f.text("            - name: API_TOKEN", "              valueFrom:", "                secretKeyRef:")
        f.decoy("                  name: api-secrets", "k8s-ref")
        f.decoy("                  key: api-token", "k8s-ref")
    f.decoy("      imagePullSecrets: [{name: regcred}]", "k8s-ref")
    f = new(".pre-commit-config.yaml")
    f.text("repos:")
    for repo in ("pre-commit/pre-commit-hooks", "astral-sh/ruff-pre-commit", "Yelp/detect-secrets"):
        f.text(f"  - repo: https://github.com/{repo}")
        f.decoy(f"    rev: {fake.sha1()}", "commit")
        f.decoy(f'    rev: "{fake.sha1()}"', "commit-quoted")
    f = new("ci/workflow.yml")
    f.text("jobs:", "  deploy:", "    steps:", "      - uses: docker/login-action@v3", "        with:")
    f.decoy("          password: ${{ secrets.REGISTRY_PASSWORD }}", "template")
    f.decoy("          username: ${{ github.actor }}", "template")
    f.plant(f"          token: {(tok := fake.github())}", tok, "github")
    f.decoy(f"          ref: {fake.sha1()}", "commit")


def _python(new, fake: Fakes) -> None:
    for n in range(4):
        f = new(f"src/app/settings{n}.py")
        f.text("import os", "from django import forms", "")
        f.plant(f'DATABASE_PASSWORD = "{(pw := fake.password())}"', pw, "python")
        f.plant(f"SECRET_KEY = '{(key := fake.b64_key())}'", key, "python")
        f.plant(f'token = os.getenv("API_TOKEN", "{(tok := fake.api_key())}")', tok, "getenv-default")
        f.plant(f'conn = connect(host="db", user="app", password="{(pw := fake.password())}")', pw, "kwarg")
        f.plant(f'config = {{"user": "app", "password": "{(pw := fake.password())}"}}', pw, "dict")
        f.plant(f'ENGINE_URL = "mysql+pymysql://root:{(pw := fake.password())}@localhost/app"', pw, "url")
        f.plant(f'SLACK_TOKEN = "{(tok := fake.slack())}"', tok, "slack")
        f.plant(f'webhook = "{(url := fake.slack_webhook())}"', url, "slack-webhook")
        f.decoy('DB_PASSWORD = os.environ["DB_PASSWORD"]', "environ")
        f.decoy('api_token = os.getenv("API_TOKEN")', "getenv")
        f.decoy('smtp_password = os.environ.get("SMTP_PASSWORD", "")', "getenv-empty")
        f.decoy("password_field = forms.CharField(widget=forms.PasswordInput)", "form")
        f.decoy("PASSWORD_MIN_LENGTH = 12", "about")
        f.decoy('PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]', "about")
        f.decoy("password = getpass.getpass()", "call")
        f.decoy("secret = settings.SECRET_KEY", "attribute")
        f.decoy('auth_header = "Authorization"', "about")
        f.decoy('TOKEN_TYPE = "bearer"', "about")
        f.decoy('password_label = "Password"', "about")
        f.decoy('headers = {"Authorization": f"Bearer {token}"}', "fstring")
        f.decoy('dsn = f"postgresql://{user}:{password}@{host}/{db}"', "fstring-url")
        f.decoy('raise ValueError("password is required")', "prose")
        f.decoy('error = "Invalid token, please sign in again"', "prose")
        f.decoy(f'password_hash = "{fake.sha256()}"', "about-hash")
        f.decoy(f'FILE_DIGEST = "{fake.sha256()}"', "digest")
        f.decoy(f'COMMIT_SHA = "{fake.sha1()}"', "commit")
        f.decoy(f'request_id = "{fake.uuid()}"', "uuid")
        f.decoy('__version__ = "3.2.1"', "version")
        f.decoy('DOCS_URL = "https://docs.example.id/v2/setup?lang=id"', "url")
        f.decoy('password = "<your-password>"', "placeholder")
        f.decoy('api_key = "your_api_key_here"', "placeholder")
        f.decoy('secret = ""', "empty")
        f.decoy("token = None", "null")
        f.decoy('if password == "":', "comparison-empty")
        f.decoy(f"# {LOREM[:90]}", "lorem")
    f = new("tests/fixtures/payloads.py")
    f.text('"""Test fixtures."""', "")
    for i in range(12):
        f.decoy(f'FIXTURE_{i} = "{fake.text_b64()}"', "b64-text")
    for i in range(6):
        f.plant(f'SESSION_{i} = "{(tok := fake.jwt())}"', tok, "jwt")
    for i in range(4):
        f.plant(f'X_CLIENT_{i} = "{(key := fake.b64_key())}"', key, "high-entropy")
    for i in range(8):
        f.decoy(f'SAMPLE_ID_{i} = "{fake.uuid()}"', "uuid")


def _javascript(new, fake: Fakes) -> None:
    for n in range(3):
        f = new(f"web/src/config{n}.js")
        f.plant(f"const dbPassword = '{(pw := fake.password())}';", pw, "js")
        f.plant(f'  apiKey: "{(key := fake.api_key())}",', key, "js-object")
        f.plant(f'const secret = process.env.JWT_SECRET || "{(pw := fake.password())}";', pw, "js-default")
        f.plant(f'const stripe = require("stripe")("{(key := fake.stripe())}");', key, "stripe")
        f.plant(f'const sendgridKey = "{(key := fake.sendgrid())}";', key, "sendgrid")
        f.decoy("const password = process.env.DB_PASSWORD;", "process-env")
        f.decoy("  token: process.env.API_TOKEN,", "process-env")
        f.decoy("const auth = req.headers.authorization;", "attribute")
        f.decoy('<input type="password" name="password" autocomplete="current-password">', "html")
        f.decoy("const url = `https://${host}/api/v1/items?page=${page}`;", "template")
        f.decoy(f'const etag = "{fake.sha1()}";', "digest")
        f.decoy(f'  "integrity": "sha512-{fake.b64_key()}{fake.b64_key()}",', "sri")
        f.decoy(f'const correlationId = "{fake.uuid()}";', "uuid")
        f.decoy('export const VERSION = "1.18.4";', "version")
        f.decoy("const tokenExpiry = 3600 * 1000;", "about")
        f.decoy('const passwordPlaceholder = "Enter your password";', "about")


def _go(new, fake: Fakes) -> None:
    for n in range(3):
        f = new(f"cmd/server{n}/main.go")
        f.text("package main", "", 'import "os"', "")
        f.plant(f'const apiToken = "{(tok := fake.api_key())}"', tok, "go-const")
        f.plant(f'\tcfg := Config{{User: "app", Password: "{(pw := fake.password())}"}}', pw, "go-struct")
        f.plant(f'\tdsn := "postgres://app:{(pw := fake.password())}@db:5432/app?sslmode=disable"', pw, "url")
        f.plant(f'\tghToken := "{(tok := fake.github())}"', tok, "github")
        f.decoy('\tpassword := os.Getenv("DB_PASSWORD")', "getenv")
        f.decoy('\tPassword string `json:"password" yaml:"password"`', "struct-tag")
        f.decoy('\tdsn := fmt.Sprintf("postgres://%s:%s@%s/%s", user, pass, host, db)', "format-url")
        f.decoy(f'\tconst buildCommit = "{fake.sha1()}"', "commit")
        f.decoy('\tconst defaultTimeout = "30s"', "plain")
        f.decoy('\turl := "https://api.example.id/v1/status"', "url")


def _ops(new, fake: Fakes) -> None:
    f = new("Dockerfile")
    f.text("FROM python:3.12-slim", "WORKDIR /app")
    f.plant(f"ENV DB_PASSWORD={(pw := fake.password())}", pw, "dockerfile")
    f.plant(f"ARG NPM_TOKEN={(tok := fake.api_key())}", tok, "dockerfile-arg")
    f.plant(f"ENV ADMIN_PASSWORD {(pw := fake.password())}", pw, "dockerfile-space")
    f.decoy("ENV DB_PASSWORD_FILE=/run/secrets/db_password", "secret-file")
    f.decoy("ARG GITHUB_TOKEN", "bare")
    f.decoy("ENV PYTHONDONTWRITEBYTECODE=1", "plain")
    f = new("scripts/deploy.sh")
    f.text("#!/bin/sh", "set -eu")
    f.plant(f"mysql -u root --password={(pw := fake.password())} app < dump.sql", pw, "shell-flag")
    f.plant(f"export PGPASSWORD='{(pw := fake.password())}'", pw, "shell")
    f.plant(f'curl -H "Authorization: Bearer {(tok := fake.jwt())}" https://api.example.id', tok, "jwt")
    f.decoy('export PGPASSWORD="$DB_PASSWORD"', "shell-ref")
    f.decoy('curl -u "$API_USER:$API_TOKEN" https://api.example.id/v1/ping', "shell-ref")
    f.decoy(f"git checkout {fake.sha1()}", "commit")
    f.decoy('echo "sha256sum: $(sha256sum dist/app.tar.gz)"', "plain")
    f = new("config/my.cnf")
    f.text("[client]", "user=backup")
    f.plant(f"password={(pw := fake.password())}", pw, "ini")
    f = new("config/app.ini")
    f.text("[auth]")
    f.plant(f"client_secret = {(key := fake.api_key())}", key, "ini")
    f.decoy("client_id = siaga-dashboard", "plain")
    f.decoy("token_endpoint = https://sso.example.id/realms/ops/protocol/openid-connect/token", "about")


def _keys(new, fake: Fakes) -> None:
    for n, kind in enumerate(("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY")):
        f = new(f"keys/server{n}.pem" if n < 3 else "keys/deploy_key")
        body = fake.pem_body()
        f.plant(f"-----BEGIN {kind}-----", body[0], "private-key", value_on_line=False)
        f.text(*body, f"-----END {kind}-----")
    f = new("src/app/signing.py")
    body = fake.pem_body()
    kind = "RSA PRIVATE KEY"
    f.plant(f'SIGNING_KEY = """-----BEGIN {kind}-----\\n{body[0]}', body[0], "private-key")
    f.text(*body[1:], f'-----END {kind}-----"""')
    f.decoy("PUBLIC_KEY_PATH = '/etc/siaga/signing.pub'", "about")


def _docs(new, fake: Fakes) -> None:
    f = new("README.md")
    f.text("# Payments service", "")
    f.decoy("Set the database password in the environment (`DB_PASSWORD`), never in a file.", "prose")
    f.decoy("The token expires after one hour; request a new one from the auth service.", "prose")
    f.decoy("```sh", "fence")
    f.decoy("export DB_PASSWORD=<your password>", "placeholder")
    f.decoy("docker run -e POSTGRES_PASSWORD=$POSTGRES_PASSWORD postgres:16", "shell-ref")
    f.decoy("```", "fence")
    f.plant(f'Example that leaked: `password = "{(pw := fake.password())}"`', pw, "markdown")
    for _ in range(8):
        f.decoy(LOREM[: random.Random(len(f.lines)).randint(60, 180)], "lorem")
    f.decoy("Clone with git@github.com:example/payments.git or https://github.com/example/payments.", "url")
    f = new("docs/changelog.txt")
    for n in range(30):
        f.decoy(f"v1.{n}.0 ({fake.sha1()[:12]}): fixed token refresh and password reset emails", "changelog")
    for _ in range(10):
        f.decoy(f"  checksum {fake.sha256()}  siaga-1.{fake.rng.randint(0, 30)}.0.tar.gz", "digest")
    f = new("docs/env-reference.md")
    for name in ENV_NAMES:
        f.decoy(f"| `{name}` | read from the environment at start | `${{{name}}}` |", "doc-table")
    for name in ENV_NAMES:
        f.decoy(f'{name.lower()} = os.environ["{name}"]', "environ")
    for name in ENV_NAMES:
        f.decoy(f"      {name}: ${{{name}}}", "env-ref")


def _hard_cases(new, fake: Fakes) -> None:
    """Cases real trees have that a looser rule gets wrong, both ways."""
    f = new("src/app/auth.py")
    f.decoy("class TokenAuth(AuthBase):", "code")
    f.decoy("    def __call__(self, request):", "code")
    f.decoy("        pass", "code")
    f.decoy("    token = tokenizer.next_token()", "call")
    f.decoy("session.auth = HTTPBasicAuth(user, password)", "call")
    f.decoy("client = Client(password=password, token=self.token)", "names")
    f.decoy('payload = {"password": password, "remember": True}', "names")
    f.decoy('    password: str = Field(..., description="The account password", min_length=12)', "field")
    f.decoy("    api_token: SecretStr | None = None", "annotation")
    f.decoy('TOKEN_FILE = Path("~/.config/siaga/token")', "about")
    f.decoy("PWD = os.getcwd()", "cwd")
    f.decoy("if token != expected_token:", "comparison")
    weak, weaker = fake.unique(lambda: "changeme"), fake.unique(lambda: "admin123")
    f.plant(f'PASSWORD = "{weak}"', weak, "weak")  # a real weak password, not a placeholder
    f.plant(f'admin_passwd = "{weaker}"', weaker, "weak")
    f.plant(f'headers = {{"Authorization": "Basic {(b := fake.b64_key())}"}}', b, "basic-header")
    f.plant(f'os.environ["DB_PASSWORD"] = "{(pw := fake.password())}"', pw, "environ-assign")
    f = new("config/application.properties")
    f.decoy("spring.datasource.password=${DB_PASSWORD}", "env-ref")
    f.decoy("spring.datasource.username=app", "plain")
    f.plant(f"spring.mail.password={(pw := fake.password())}", pw, "properties")
    f.decoy("server.ssl.key-store-password=${KEYSTORE_PASSWORD:}", "env-ref")
    f = new(".npmrc")
    f.decoy("//registry.npmjs.org/:_authToken=${NPM_TOKEN}", "env-ref")
    f.decoy("always-auth=true", "boolean")
    f = new("config/rails/secrets.yml")
    f.decoy('secret_key_base: <%= ENV["SECRET_KEY_BASE"] %>', "erb")
    f.decoy("  password: !vault |", "ansible-vault")
    f.decoy('  db_password: "{{ vault_db_password }}"', "template")
    f.decoy("  password: null", "null")
    f.decoy("  secret: true", "boolean")
    f.decoy("  auth: false", "boolean")
    f.decoy("  min_password_length: 8", "about")
    f.decoy('  password_regex: "^(?=.*[A-Z]).{12,}$"', "about")
    f.plant("  redis_password: 123456", "123456", "numeric")
    f.plant(f"  passwd: {(pw := fake.unique(lambda: 'qwerty'))}", pw, "weak")
    f = new("schemas/user.json")
    f.decoy('  "password": {"type": "string", "minLength": 12, "format": "password"},', "schema")
    f.decoy('  "token": null,', "null")
    f.decoy('  "secret": "",', "empty")
    f.plant(f'  "api_secret": "{(key := fake.api_key())}",', key, "json")
    f = new("web/src/types.ts")
    f.decoy("  password: string;", "type")
    f.decoy("  readonly token?: string | null;", "type")
    f.decoy("const auth = useAuth();", "call")
    f.decoy("const credentials = { username, password };", "names")
    f.plant(f'const adminToken: string = "{(tok := fake.api_key())}";', tok, "ts-annotated")
    f = new("http/requests.http")
    f.decoy("GET https://api.example.id/v1/items", "plain")
    f.decoy("Authorization: Bearer {{token}}", "template")
    f.plant(f"X-Api-Key: {(key := fake.b64_key())}", key, "http-header")
    f = new("src/app/constants.py")
    for name in ENV_NAMES:
        f.decoy(f'{name}_ENV = "{name}"', "env-name")
    for i in range(20):
        f.decoy(f"    pass  # step {i}", "code")


def _skipped(corpus: Corpus, fake: Fakes) -> None:
    """Secrets where the scan must not look: .git, node_modules, a virtualenv, a binary, a big file, links."""
    root = corpus.root
    secret_line = f'password = "{fake.password()}"\n'
    places = {
        ".git/config": secret_line,
        "web/node_modules/left-pad/index.js": secret_line,
        "tools/env/lib/site.py": secret_line,  # a virtualenv under another name (pyvenv.cfg)
        "tools/env/pyvenv.cfg": "home = /usr/bin\n",
        "big/huge.txt": "x = 1\n" * 200_000 + secret_line,
    }
    for rel, text in places.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "assets").mkdir(exist_ok=True)
    (root / "assets/logo.bin").write_bytes(b"\x89PNG\0\0" + secret_line.encode() + bytes(range(256)))
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir(exist_ok=True)
    (outside / "prod.env").write_text(f"DB_PASSWORD={fake.password()}\n")
    os.symlink(outside / "prod.env", root / "config/linked.env")
    os.symlink(outside, root / "linked-dir")
    corpus.skipped += [*places, "assets/logo.bin", "config/linked.env", "linked-dir"]


@pytest.fixture(name="secrets_corpus", scope="module")
def secrets_corpus_fixture(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The corpus, built once per test module in its own temporary directory."""
    return build_corpus(tmp_path_factory.mktemp("secrets-corpus") / "project")
