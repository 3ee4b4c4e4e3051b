#!/usr/bin/env python3
"""Builds the database of a running Django deployment of the original issue tracker, with real
Django and Django REST Framework: `migrate`, users made by Django's own `set_password` and
`make_password(..., hasher=...)`, one DRF token per user, and issues whose users are usernames.

    make_source.py URL fixture OUT.json   the test fixture: every kind of password hash, inactive
                                          users, an unusable password, Unicode names, id gaps;
                                          OUT.json lists users, passwords, tokens and issues
    make_source.py URL invalid OUT.json   the fixture plus rows our rules refuse (SQLite only)
    make_source.py URL md5 OUT.json       the fixture plus a user with an MD5 hash
    make_source.py URL bulk USERS ISSUES  a large database for the benchmark (bulk inserts)

URL is dj-database-url's form: sqlite:////abs/path/db.sqlite3 or postgres://user@host:port/db.
"""
import json
import os
import sys
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def database(url):
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parsed.path[1:] if url.startswith("sqlite:////") else parsed.path}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.path.lstrip("/"),
        "USER": parsed.username or "",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
    }


def configure(url):
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="not-a-secret",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "rest_framework",
            "rest_framework.authtoken",
            "issuetracker",
        ],
        DATABASES={"default": database(url)},
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
            "django.contrib.auth.hashers.Argon2PasswordHasher",
            "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
            "django.contrib.auth.hashers.BCryptPasswordHasher",
            "django.contrib.auth.hashers.MD5PasswordHasher",
        ],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fixture(out, extra):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
    from django.contrib.auth.models import User
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from issuetracker.models import Issue

    class Django111PBKDF2(PBKDF2PasswordHasher):
        """Django 1.11's count, the original's pin."""
        iterations = 36000

    people = []

    def person(username, password, hasher=None, **flags):
        user = User(username=username, email=flags.pop("email", f"{username}@example.com"), **flags)
        if password is None:
            user.set_unusable_password()
        elif hasher == "django111":
            user.password = Django111PBKDF2().encode(password, Django111PBKDF2().salt())
        elif hasher:
            user.password = make_password(password, hasher=hasher)
        else:
            user.set_password(password)
        user.save()
        token = Token.objects.create(user=user)
        people.append({
            "id": user.id, "username": username, "password": password, "token": token.key,
            "is_active": user.is_active, "is_staff": user.is_staff,
            "is_superuser": user.is_superuser, "email": user.email,
            "hash": user.password.split("$")[0],
        })
        return user

    person("admin", "admin-pw-1", is_staff=True, is_superuser=True)
    person("ann", "ann-pw-1", "django111")
    person("bob", "bob-pw-1", "pbkdf2_sha1")
    person("cara", "cara-pw-1", "argon2", is_staff=True)
    gone = person("gone", "gone-pw-1")
    gone.delete()  # a gap in the user ids
    people.pop()
    person("dan", "dan-pw-1", "bcrypt_sha256")
    person("eve", "eve-pw-1", "bcrypt")
    person("José.ñ+1@x", "jose-pw-1", email="jose@example.com")
    person("frozen", "frozen-pw-1", is_active=False)
    person("nopass", None)
    person("noemail", "noemail-pw-1", email="")
    if extra == "md5":
        person("oldtimer", "old-pw-1", "md5")

    issues = []
    names = [p["username"] for p in people]
    for n in range(12):
        issue = Issue.objects.create(
            title=f"Issue {n} — ünïcode" if n % 3 == 0 else f"Issue {n}",
            # Tabs, newlines and backslashes must survive PostgreSQL's COPY text format.
            description=f"Description {n}" if n != 5 else "Line one\nline\ttwo \\ back\\slash \\N",
            status="closed" if n % 4 == 0 else "open",
            assigned_to_id=names[n % len(names)],
            created_by_id=names[(n + 1) % len(names)],
        )
        issues.append(issue)
    for doomed in (issues[3], issues[7]):
        doomed.delete()  # gaps in the issue ids
    issues = [i for i in issues if i.id is not None]  # deleted ones lost their id
    if extra == "invalid":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys = OFF")
            cursor.execute(
                "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
                "email, is_staff, is_active, date_joined) VALUES "
                "('!x', 0, 'bad name', '', '', 'bad@example.com', 0, 1, '2020-01-01 00:00:00'), "
                "('!x', 0, 'bademail', '', '', 'not-an-email', 0, 1, '2020-01-01 00:00:00')"
            )
            cursor.execute(
                "INSERT INTO issuetracker_issue (title, description, status, assigned_to_id, "
                "created_by_id) VALUES ('t', 'd', 'pending', 'ann', 'ann'), "
                "(?, 'd', 'open', 'ann', 'ann'), ('t', 'd', 'open', 'nobody', 'ann')",
                ["x" * 300],
            )
    json.dump({
        "users": people,
        "issues": [
            {"id": i.id, "title": i.title, "description": i.description, "status": i.status,
             "assigned_to": i.assigned_to_id, "created_by": i.created_by_id}
            for i in issues
        ],
    }, open(out, "w"), ensure_ascii=False, indent=1)


def bulk(users, issues):
    """USERS users (one shared PBKDF2 hash, made once) with tokens, ISSUES issues between them."""
    import binascii

    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from issuetracker.models import Issue

    password = make_password("bench-pw-1")
    with transaction.atomic():
        User.objects.bulk_create(
            [User(username=f"user{n}", email=f"user{n}@example.com", password=password)
             for n in range(users)], batch_size=5000)
        ids = list(User.objects.values_list("id", flat=True))
        Token.objects.bulk_create(
            [Token(key=binascii.hexlify(os.urandom(20)).decode(), user_id=i) for i in ids],
            batch_size=5000)
    batch = 20000
    for start in range(0, issues, batch):
        with transaction.atomic():
            Issue.objects.bulk_create([
                Issue(title=f"Issue {n}", description=f"Description of issue {n}",
                      status="open" if n % 3 else "closed",
                      assigned_to_id=f"user{n % users}", created_by_id=f"user{(n * 7) % users}")
                for n in range(start, min(start + batch, issues))
            ], batch_size=batch)
        print(f"{min(start + batch, issues)} issues", file=sys.stderr)


def main():
    url, mode = sys.argv[1], sys.argv[2]
    configure(url)
    if mode == "bulk":
        bulk(int(sys.argv[3]), int(sys.argv[4]))
    else:
        fixture(sys.argv[3], mode)


if __name__ == "__main__":
    main()
