"""E-mail over SMTP (smtplib), plain text with the acknowledge link."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from flywheel.incident.notifiers import DeliveryError, Message, Target


@dataclass(frozen=True)
class SmtpServer:
    """Where mail is handed over, and as whom."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str = ""
    password: str = ""


def compose(message: Message, *, sender: str, to: str) -> EmailMessage:
    """The e-mail for a message."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, message.subject
    lines = [message.text, "", f"Service: {message.service}", f"Priority: {message.priority}"]
    if message.incident_url:
        lines.append(f"Incident: {message.incident_url}")
    if message.ack_url:
        lines += ["", f"Acknowledge: {message.ack_url}"]
    mail.set_content("\n".join(lines) + "\n")
    return mail


class EmailNotifier:
    """Hands the message to an SMTP server."""

    channel = "email"

    def __init__(self, server: SmtpServer, *, timeout_s: float) -> None:
        self.server = server
        self.timeout_s = timeout_s

    def send(self, message: Message, target: Target) -> None:
        """Send the e-mail; SMTP 5xx refusals are permanent, the rest retryable."""
        if not self.server.host:
            raise DeliveryError("no SMTP server configured (FLYWHEEL_SMTP_HOST)", retryable=False)
        mail = compose(message, sender=self.server.sender, to=target.address)
        try:
            with smtplib.SMTP(self.server.host, self.server.port, timeout=self.timeout_s) as smtp:
                if self.server.starttls:
                    smtp.starttls()
                if self.server.username:
                    smtp.login(self.server.username, self.server.password)
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", retryable=exc.smtp_code < 500) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {target.address}", retryable=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP: {exc or type(exc).__name__}") from exc
