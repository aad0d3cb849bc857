"""The defaults a user can change or meets (files, environment variables, limits, the API's
address): the CLI, the Action and the library all read them from here. Facts of a single module
(a schema id, a format version) stay with that module."""

from __future__ import annotations

CONFIG_FILE = "ideogram-org.yaml"
# a desired-state file larger than this is refused (--max-file-size)
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_PLAN_FILE_BYTES = 256 * 1024 * 1024  # a plan file larger than this is refused
CONFIG_ENV = "IDEOGRAM_ORG_CONFIG"
AUDIT_LOG = "ideogram-org.audit.jsonl"
AUDIT_LOG_ENV = "IDEOGRAM_ORG_AUDIT_LOG"
AUDIT_KEY_ENV = "IDEOGRAM_AUDIT_KEY"  # optional: key the audit chain with an HMAC
# where per-organization apply locks live (default ~/.cache/ideogram-org)
LOCK_DIR_ENV = "IDEOGRAM_ORG_LOCK_DIR"
SANDBOX_STATE = ".ideogram-sandbox.json"
STATE_ENV = "IDEOGRAM_ORG_STATE"  # the state store: local | git | git:URL | git:URL#BRANCH
STATE_TOKEN_ENV = "IDEOGRAM_ORG_STATE_TOKEN"  # an https state remote's credential
STATE_BRANCH = "ideogram-org-state"  # the git state store's branch
STATE_LEASE = "15m"  # how long a lock outlives a run that stopped renewing it

ENDPOINT = "https://api.ideogram.ai"
ENDPOINT_ENV = "IDEOGRAM_ENDPOINT"
TOKEN_ENV = "IDEOGRAM_TOKEN"
TIMEOUT_SECONDS = 30.0
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # an answer larger than this, decoded, is refused

MAX_SERVER_MESSAGE = 500  # characters of a server's message kept in reports and the audit log
CHUNK_SIZE = 100  # members per add/promote/remove call
MAX_APPLY_ROUNDS = 3  # re-read and re-plan at most this often after ambiguous writes
READ_WORKERS = 8  # organizations read at once

MIN_OWNERS = 1
EXPIRY_WARN_DAYS = 14  # an expiring entry, source or key is named this many days ahead
MAX_REMOVALS = "25%"
MAX_REMOVALS_MIN_MEMBERS = 10  # a percentage limit only bites from this many current members
MAX_KEY_DEACTIVATIONS = "25%"
MAX_KEY_DEACTIVATIONS_FLOOR = 2  # a percentage limit always allows this many
PRUNE_MEMBERS = True
PRUNE_API_KEYS = False

MIN_APPROVAL_PREFIX = 8  # characters of a plan hash that --allow-unsafe must give
MARKDOWN_LIMIT = 60_000  # characters in a pull request comment (GitHub allows 65,536)
PLAN_GROUP_THRESHOLD = (
    50  # rows of one organization above which the text plan shows each kind in short
)
PLAN_GROUP_SHOWN = 10  # rows of each kind shown then (--full shows all)
READ_PROGRESS_AFTER = 2.0  # seconds of reading before progress lines appear

# secret delivery: a token that may write GitHub Actions secrets (the workflow's GITHUB_TOKEN
# cannot), and the REST API's address (GitHub's runners set GITHUB_API_URL; Enterprise differs)
GITHUB_SECRETS_TOKEN_ENV = "IDEOGRAM_ORG_GITHUB_TOKEN"
GITHUB_API_URL_ENV = "GITHUB_API_URL"
GITHUB_API_URL = "https://api.github.com"
GITHUB_TIMEOUT_SECONDS = 30.0
