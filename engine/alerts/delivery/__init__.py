"""Alert delivery away from the desk: Telegram and e-mail (see ``dispatcher``)."""

from engine.alerts.delivery.channel import DeliveryError
from engine.alerts.delivery.dispatcher import (
    AlertDelivery,
    DeskEvents,
    Pacing,
    attach_deliveries,
    send_test,
)
from engine.alerts.delivery.report_mail import ReportMailer
from engine.alerts.delivery.settings import (
    DeliveryKeys,
    DeliverySettings,
    EmailSettings,
    Notice,
    Security,
    TelegramSettings,
)

__all__ = [
    "AlertDelivery",
    "DeliveryError",
    "DeliveryKeys",
    "DeliverySettings",
    "DeskEvents",
    "EmailSettings",
    "Notice",
    "Pacing",
    "ReportMailer",
    "Security",
    "TelegramSettings",
    "attach_deliveries",
    "send_test",
]
