"""The guard-rails above the portfolios, edited in forms generated from their schemas
(``ui.panels.schema_form``): the account's maximum loss and profit, trailing floor, square-off
time and quantity multiplier, and each strategy tag's maximum loss, profit and trailing floor.
What the engine refuses is shown in words under the form, and nothing is saved."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.api import AccountLimits, TagLimits
from ui.context import PanelContext
from ui.panels.schema_form import FORM, ModelEditor, Presentation

LOOK = Presentation(
    labels={
        "TagLimits.max_loss": "Max loss ₹",
        "TagLimits.max_profit": "Max profit ₹",
        "TagLimits.trail_from": "Trail once made ₹",
        "TagLimits.trail_gap": "Square off giving back ₹",
        "AccountLimits.max_loss": "Max loss ₹",
        "AccountLimits.max_profit": "Max profit ₹",
        "AccountLimits.trail_from": "Trail once made ₹",
        "AccountLimits.trail_gap": "Square off giving back ₹",
        "AccountLimits.square_off": "Square off at",
        "AccountLimits.multiplier": "Quantity multiplier",
    },
    starts={
        "TagLimits.max_loss": "5000",
        "TagLimits.max_profit": "10000",
        "TagLimits.trail_from": "3000",
        "TagLimits.trail_gap": "1000",
        "AccountLimits.max_loss": "20000",
        "AccountLimits.max_profit": "40000",
        "AccountLimits.trail_from": "10000",
        "AccountLimits.trail_gap": "3000",
    },
)


class LimitsEditor(QDialog):
    """The account's and the strategy tags' limits (non-modal)."""

    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("multilegLimits")
        self.setWindowTitle("Account and strategy tag limits")
        self.setModal(False)
        self._ctx = context
        api = context.api
        self.account = ModelEditor(AccountLimits, "account", "Account", layout=FORM, look=LOOK)
        account = api.account_limits()
        if account is not None:
            self.account.set_value(account.model_dump(mode="json"))
        self.account_feedback = QLabel(objectName="fieldProblem", wordWrap=True)
        self.account_feedback.setMinimumHeight(48)
        self.save_account = QPushButton("Save account limits", objectName="saveAccountLimits")
        self.save_account.clicked.connect(self.save_account_limits)
        account_box = QGroupBox("Account (every portfolio on this desk)")
        column = QVBoxLayout(account_box)
        column.addWidget(self.account.widget)
        column.addWidget(self.account_feedback)
        column.addWidget(self.save_account, 0, Qt.AlignmentFlag.AlignRight)

        self.tag = QComboBox(objectName="tagChoice", editable=True)
        tags = set(api.tag_limits())
        for view in api.portfolios():
            spec = api.portfolio(view.name)
            if spec is not None and spec.defaults.tag:
                tags.add(spec.defaults.tag)
        self.tag.addItems(sorted(tags))
        self.tag.currentTextChanged.connect(self._tag_chosen)
        self.tag_mtm = QLabel(objectName="ticketInfo")
        self.tag_limits = ModelEditor(TagLimits, "tag", "Tag", layout=FORM, look=LOOK)
        self.tag_feedback = QLabel(objectName="fieldProblem", wordWrap=True)
        self.tag_feedback.setMinimumHeight(48)
        self.save_tag = QPushButton("Save tag limits", objectName="saveTagLimits")
        self.save_tag.clicked.connect(self.save_tag_limits)
        tag_box = QGroupBox("Strategy tag (its portfolios together)")
        tag_column = QVBoxLayout(tag_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Tag"))
        row.addWidget(self.tag, 1)
        row.addWidget(self.tag_mtm)
        tag_column.addLayout(row)
        tag_column.addWidget(self.tag_limits.widget)
        tag_column.addWidget(self.tag_feedback)
        tag_column.addWidget(self.save_tag, 0, Qt.AlignmentFlag.AlignRight)

        order = QLabel(
            "Precedence: account → tag → portfolio → leg. A limit reached squares off every "
            "portfolio it covers, and none of them starts again that day."
        )
        order.setWordWrap(True)
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        left.addWidget(account_box)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(tag_box)
        right.addWidget(order)
        right.addStretch(1)
        layout.addLayout(left, 1)
        layout.addLayout(right, 1)
        self._tag_chosen(self.tag.currentText())
        self.resize(1040, 460)

    def _tag_chosen(self, tag: str) -> None:
        limits = self._ctx.api.tag_limits().get(tag)
        self.tag_limits.set_value({} if limits is None else limits.model_dump(mode="json"))
        self.tag_mtm.setText(f"MTM ₹{self._ctx.api.tag_mtm(tag):,.2f}" if tag else "")
        self.tag_feedback.clear()

    def save_account_limits(self) -> str | None:
        problem = self._ctx.api.set_account_limits(self.account.value())
        self.account_feedback.setText(problem or "Saved.")
        return problem

    def save_tag_limits(self) -> str | None:
        tag = self.tag.currentText().strip()
        problem = self._ctx.api.set_tag_limits(tag, self.tag_limits.value())
        self.tag_feedback.setText(problem or f"Saved for tag {tag}.")
        return problem
