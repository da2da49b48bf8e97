"""One SMTP session for a digest run (smtplib), with TLS modes none / STARTTLS / implicit TLS.

Every failure is a :class:`~newswatch.errors.DeliveryError` naming ``host:port`` and what
happened. A refusal that concerns one message (5xx to RCPT or DATA) carries
``recipient_only = True``: the session is still usable for the next recipient.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
from typing import Any

from newswatch.errors import ConfigError, DeliveryError
from newswatch.settings import PASSWORD_ENV, SmtpSettings

__all__ = ["SmtpConnection", "smtp_password"]


class SmtpConnection:
    """One SMTP session for a digest run; every failure is a DeliveryError naming host:port."""

    def __init__(self, smtp: SmtpSettings, password: str | None):
        self.smtp = smtp
        self.where = f"{smtp.host}:{smtp.effective_port}"
        self._password = password
        self._client: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.smtp.ca_file:
            ctx.load_verify_locations(cafile=self.smtp.ca_file)
        return ctx

    def open(self) -> None:
        s = self.smtp
        try:
            if s.tls == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.effective_port, timeout=s.timeout_seconds, context=self._context()
                )
            else:
                client = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout_seconds)
            self._client = client
            client.ehlo()
            if s.tls == "starttls":
                if not client.has_extn("starttls"):
                    raise DeliveryError(
                        f"SMTP {self.where}: the server does not offer STARTTLS (smtp.tls: starttls)"
                    )
                client.starttls(context=self._context())
                client.ehlo()
            if s.user:
                if self._password is None:
                    raise DeliveryError(
                        f"SMTP {self.where}: smtp.user is set but no password: set {PASSWORD_ENV} "
                        "or smtp.password_block"
                    )
                client.login(s.user, self._password)
        except DeliveryError:
            self.close()
            raise
        except smtplib.SMTPAuthenticationError as e:
            self.close()
            raise DeliveryError(
                f"SMTP {self.where}: authentication as {s.user!r} refused: {_reply(e)}"
            ) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
            self.close()
            raise DeliveryError(f"SMTP {self.where}: cannot connect: {_describe(e)}") from None

    def send(self, msg: Any, recipient: str) -> None:
        """Raises DeliveryError; ``recipient_only`` on it says whether the session is still usable."""
        assert self._client is not None
        try:
            refused = self._client.send_message(
                msg, from_addr=self.smtp.sender_address, to_addrs=[recipient]
            )
        except smtplib.SMTPRecipientsRefused as e:
            raise DeliveryError(
                f"SMTP {self.where}: recipient {recipient} refused: {_reply(e)}",
                recipient_only=True,
            ) from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
            if e.smtp_code == 421:  # the server is closing the session
                self.close()
                raise DeliveryError(
                    f"SMTP {self.where}: server closed the session while sending to {recipient}: {_reply(e)}"
                ) from None
            raise DeliveryError(
                f"SMTP {self.where}: message to {recipient} refused: {_reply(e)}",
                recipient_only=True,
            ) from None
        except (smtplib.SMTPException, OSError) as e:
            self.close()
            raise DeliveryError(
                f"SMTP {self.where}: connection lost while sending to {recipient}: {_describe(e)}"
            ) from None
        if refused:
            raise DeliveryError(f"SMTP {self.where}: recipient {recipient} refused: {refused}")

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.quit()
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None


def _reply(e: smtplib.SMTPException) -> str:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        parts = [f"{code} {_text(msg)}" for code, msg in e.recipients.values()]
        return "; ".join(parts)
    code = getattr(e, "smtp_code", None)
    text = _text(getattr(e, "smtp_error", b""))
    return f"{code} {text}".strip() if code else str(e)


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _describe(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(e, smtplib.SMTPServerDisconnected):
        return f"server disconnected ({e})" if str(e) else "server disconnected"
    if isinstance(e, ssl.SSLError):
        return f"TLS failed: {e.reason or e}"
    return f"{type(e).__name__}: {e}"


def smtp_password(smtp: SmtpSettings, environ: dict[str, str] | None = None) -> str | None:
    """The SMTP password: ``NEWSWATCH_SMTP_PASSWORD``, else the Prefect Secret block."""
    env = os.environ if environ is None else environ
    if env.get(PASSWORD_ENV):
        return env[PASSWORD_ENV]
    if smtp.password_block:
        try:
            from prefect.blocks.system import Secret

            secret = Secret.load(smtp.password_block)  # a Block (sync context)
            return str(secret.get())  # type: ignore[union-attr]
        except Exception as e:
            raise ConfigError(
                f"cannot load the Prefect Secret block {smtp.password_block!r}: {e}",
                entry="smtp.password_block",
            ) from None
    return None
