"""The engine's facade: the one surface the UI, the headless runner and scripts use.

Commands go in (place, modify, cancel, square off); snapshots and events come out. Snapshots are
plain frozen values: reading them never reaches into engine state that can change underneath.
Prices and money the facade takes and gives are rupees (``Decimal``): order terms, quotes, orders,
trades, positions, margin. The domain's own values it passes through (instruments, and the ticks
and events subscribers receive, ``engine.domain``) keep the exchange's integer paise; ``tick``
hands a panel the last tick in that form, for repaints many times a second.

The facade is a set of small services (``orders``, ``positions``, ``risk``, ``market``,
``options``); ``EngineApi`` puts their commands and queries under one name.
"""

from __future__ import annotations

from engine.alerts.rules import AlertError, AlertRule, Condition
from engine.api.advanced_orders import AdvancedOrderService, AdvancedOutcome
from engine.api.alerts import AlertService
from engine.api.algos import AlgoService
from engine.api.charts import (
    CHART_INDICATORS,
    TIMEFRAMES,
    BarColumns,
    ChartService,
    ChartTarget,
    IndicatorLine,
    join_bar,
    join_bars,
)
from engine.api.health import HealthRow, HealthService, Level, LoopLag, feed_reconnect
from engine.api.instruments import InstrumentsView
from engine.api.market import MarketService
from engine.api.multileg import MultilegService
from engine.api.options import DEFAULT_OPTION_RATE, OptionsService
from engine.api.orders import OrderService
from engine.api.parts import EngineParts
from engine.api.performance import PerformanceService
from engine.api.positions import PositionService
from engine.api.risk import RiskService
from engine.api.signals import PendingSignalView, SignalService
from engine.api.snapshots import (
    ContractGreeks,
    MarginSnapshot,
    OrderMargin,
    OrderSnapshot,
    PositionSnapshot,
    RiskLimitField,
    StrategyLeg,
    StrategyPnl,
    TradeSnapshot,
)
from engine.api.strategies import StrategyService
from engine.core.clock import IST
from engine.core.files import replacing
from engine.domain.bars import Bar, SeriesKey, Timeframe
from engine.domain.events import (
    AlertFired,
    BreakerTripped,
    ConnectionChanged,
    EngineMessage,
    FundsChanged,
    OrderDenied,
    OrderFilled,
    OrderQueued,
    OrderStatusChanged,
    OrderSubmitted,
    PositionChanged,
    RiskDenied,
    RiskLimitsChanged,
    RiskStateChanged,
    TradingState,
    VarReport,
)
from engine.domain.gtt import GttReport
from engine.domain.orders import (
    Modification,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.ticks import Quote, Tick
from engine.oms.order_manager import Outcome
from engine.oms.outcome import REPLACED_BY_SQUARE_OFF
from engine.options import ChainAnalytics
from engine.options.portfolio import GreeksGrouping, GreeksTotal, PortfolioGreeks, PositionGreeks
from engine.options.strategy import OptionStrategy, PayoffProfile, ScenarioGrid
from engine.risk.limits import RiskLimits, RiskSettings
from engine.risk.manager import KillSwitchReport, LimitUsage, TradingStatus
from engine.settings import (
    GROUPS as SETTINGS_GROUPS,
)
from engine.settings import (
    DisplayPreferences,
    Settings,
    SettingsError,
    SettingsStore,
    changed_paths,
    needs_restart,
    problems_of,
)
from engine.signals.desk import SignalResult
from engine.signals.records import SignalRecord, SignalStep
from engine.strategies.algos.desk import AlgoStart
from engine.strategies.algos.quality import ExecutionQuality, QualitySummary
from engine.strategies.algos.view import AlgoStatus, AlgoView
from engine.strategies.multileg.desk import Template as PortfolioTemplate
from engine.strategies.multileg.leg_text import LegTextError
from engine.strategies.multileg.legrun import read_tag as read_leg_tag
from engine.strategies.multileg.spec import PortfolioSpec
from engine.strategies.multileg.status import PortfolioStatus
from engine.strategies.multileg.tags import AccountLimits, TagLimits
from engine.strategies.multileg.views import LegView, PortfolioView
from engine.strategies.orders.desk import AdvancedOrderView

__all__ = [
    "CHART_INDICATORS",
    "DEFAULT_OPTION_RATE",
    "IST",
    "REPLACED_BY_SQUARE_OFF",
    "SETTINGS_GROUPS",
    "TIMEFRAMES",
    "AccountLimits",
    "AdvancedOrderView",
    "AdvancedOutcome",
    "AlertError",
    "AlertFired",
    "AlertRule",
    "AlgoStart",
    "AlgoStatus",
    "AlgoView",
    "Bar",
    "BarColumns",
    "BreakerTripped",
    "ChainAnalytics",
    "ChartTarget",
    "Condition",
    "ConnectionChanged",
    "ContractGreeks",
    "DisplayPreferences",
    "EngineApi",
    "EngineMessage",
    "EngineParts",
    "ExecutionQuality",
    "FundsChanged",
    "GreeksGrouping",
    "GreeksTotal",
    "GttReport",
    "HealthRow",
    "IndicatorLine",
    "InstrumentsView",
    "KillSwitchReport",
    "LegTextError",
    "LegView",
    "Level",
    "LimitUsage",
    "LoopLag",
    "MarginSnapshot",
    "Modification",
    "OptionStrategy",
    "OrderDenied",
    "OrderFilled",
    "OrderMargin",
    "OrderQueued",
    "OrderRequest",
    "OrderSnapshot",
    "OrderSource",
    "OrderStatus",
    "OrderStatusChanged",
    "OrderSubmitted",
    "OrderType",
    "Outcome",
    "PayoffProfile",
    "PendingSignalView",
    "PortfolioGreeks",
    "PortfolioSpec",
    "PortfolioStatus",
    "PortfolioTemplate",
    "PortfolioView",
    "PositionChanged",
    "PositionGreeks",
    "PositionSnapshot",
    "Product",
    "QualitySummary",
    "Quote",
    "RiskDenied",
    "RiskLimitField",
    "RiskLimits",
    "RiskLimitsChanged",
    "RiskSettings",
    "RiskStateChanged",
    "ScenarioGrid",
    "SeriesKey",
    "Settings",
    "SettingsError",
    "SettingsStore",
    "Side",
    "SignalRecord",
    "SignalResult",
    "SignalStep",
    "StrategyId",
    "StrategyLeg",
    "StrategyPnl",
    "TagLimits",
    "Tick",
    "Timeframe",
    "TradeSnapshot",
    "TradingState",
    "TradingStatus",
    "Validity",
    "VarReport",
    "changed_paths",
    "feed_reconnect",
    "join_bar",
    "join_bars",
    "needs_restart",
    "problems_of",
    "read_leg_tag",
    "replacing",
]


class EngineApi:
    """Every service's commands and queries under one name (``api.place_order``,
    ``api.positions()``, ``api.chain_analytics``, ...)."""

    def __init__(self, parts: EngineParts) -> None:
        self.orders_service = orders = OrderService(parts)
        self.positions_service = positions = PositionService(parts)
        self.risk_service = risk = RiskService(parts)
        self.market_service = market = MarketService(parts)
        self.options_service = options = OptionsService(parts, positions)
        self.charts_service = charts = ChartService(parts, options)
        self.strategies_service = strategies = StrategyService(parts)
        self.multileg_service = multileg = MultilegService(parts)
        self.health_service = health = HealthService(parts)
        self.alerts_service = alerts = AlertService(parts)
        self.signals_service = signals = SignalService(parts)
        self.performance_service = performance = PerformanceService(parts)
        self.advanced_service = advanced = AdvancedOrderService(parts)
        self.algos_service = algos = AlgoService(parts)
        self.instruments = InstrumentsView(parts.registry)
        """The instruments the desk lists, read-only."""
        self.has_broker_margin = parts.broker_margin is not None
        """Whether ``broker_order_margin`` can ask the broker's own calculator."""
        self.broker_name = parts.broker_name
        self.has_gtt_book = parts.gtt_book is not None
        """Whether GTTs are kept by the broker (Kite) rather than by the desk."""
        self.startup_messages: list[EngineMessage] = []
        """What the engine told the trader while it started (restoring the journal), before any
        window subscribed: the Messages panel shows these first."""
        # orders
        self.place = orders.place
        self.place_order = orders.place_order
        self.modify = orders.modify
        self.cancel = orders.cancel
        self.cancel_all = orders.cancel_all
        self.square_off = orders.square_off
        self.square_off_all = orders.square_off_all
        self.orders = orders.orders
        self.order = orders.order
        self.order_history = orders.order_history
        self.trades = orders.trades
        # advanced orders (bracket, OCO, trailing stop, conditional, GTT)
        self.place_bracket = advanced.place_bracket
        self.place_oco = advanced.place_oco
        self.place_trailing_stop = advanced.place_trailing_stop
        self.place_conditional = advanced.place_conditional
        self.advanced_orders = advanced.advanced_orders
        self.cancel_advanced = advanced.cancel_advanced
        self.amend_advanced = advanced.amend_advanced
        self.place_gtt = advanced.place_gtt
        self.gtts = advanced.gtts
        self.modify_gtt = advanced.modify_gtt
        self.cancel_gtt = advanced.cancel_gtt
        # positions
        self.positions = positions.positions
        self.day_pnl = positions.day_pnl
        self.strategy_pnl = positions.strategy_pnl
        # performance (from the journal: per strategy, symbol, day; metrics; HTML report)
        self.performance = performance.performance
        self.performance_report = performance.performance_report
        self.export_performance_report = performance.export_performance_report
        # alerts
        self.alerts = alerts.alerts
        self.add_alert = alerts.add_alert
        self.remove_alert = alerts.remove_alert
        self.rearm_alert = alerts.rearm_alert
        self.tell = alerts.tell
        # health
        self.health = health.health
        self.trading_paused = health.paused
        self.reconnect_feed = health.reconnect_feed
        # risk
        self.kill_switch = risk.kill_switch
        self.rearm = risk.rearm
        self.set_trading_state = risk.set_trading_state
        self.trading_state = risk.trading_state
        self.risk_limits = risk.risk_limits
        self.risk_limit_fields = risk.risk_limit_fields
        self.risk_limit_schema = risk.risk_limit_schema
        self.set_risk_limits = risk.set_risk_limits
        self.risk_usage = risk.risk_usage
        self.breaker_history = risk.breaker_history
        self.var = risk.var
        self.margin = risk.margin
        self.order_margin = risk.order_margin
        self.broker_order_margin = risk.broker_order_margin
        # market data and events
        self.quote = market.quote
        self.tick = market.tick
        self.subscribe = market.subscribe
        # signals
        self.pending_signals = signals.pending_signals
        self.approve_signal = signals.approve_signal
        self.reject_signal = signals.reject_signal
        self.signal_audit = signals.signal_audit
        self.export_signal_audit = signals.export_signal_audit
        self.subscribe_all = market.subscribe_all
        self.watch = market.watch
        self.unwatch = market.unwatch
        # strategies
        self.strategies = strategies.strategies
        self.start_strategy = strategies.start_strategy
        self.stop_strategy = strategies.stop_strategy
        self.strategy_problems = strategies.strategy_problems
        self.live_session_problem = strategies.live_session_problem
        self.paper_problem = strategies.paper_problem

        self.portfolios = multileg.portfolios
        self.portfolio = multileg.portfolio
        self.portfolio_legs = multileg.portfolio_legs
        self.portfolio_legs_text = multileg.portfolio_legs_text
        self.legs_as_text = multileg.legs_as_text
        self.legs_from_text = multileg.legs_from_text
        self.portfolio_templates = multileg.portfolio_templates
        self.portfolio_sections = multileg.portfolio_sections
        self.check_portfolio = multileg.check_portfolio
        self.save_portfolio = multileg.save_portfolio
        self.delete_portfolio = multileg.delete_portfolio
        self.start_portfolio = multileg.start_portfolio
        self.stop_portfolio = multileg.stop_portfolio
        self.square_off_portfolio = multileg.square_off_portfolio
        self.enter_portfolio = multileg.enter_portfolio
        self.export_portfolio = multileg.export_portfolio
        self.import_portfolio = multileg.import_portfolio
        self.save_portfolio_template = multileg.save_portfolio_template
        self.portfolio_problems = multileg.portfolio_problems
        self.tag_limits = multileg.tag_limits
        self.tag_mtm = multileg.tag_mtm
        self.set_tag_limits = multileg.set_tag_limits
        self.account_limits = multileg.account_limits
        self.set_account_limits = multileg.set_account_limits
        # execution algos
        self.start_algo = algos.start_algo
        self.slice_exit = algos.slice_exit
        self.pause_algo = algos.pause_algo
        self.resume_algo = algos.resume_algo
        self.cancel_algo = algos.cancel_algo
        self.modify_algo = algos.modify_algo
        self.algos = algos.algos
        self.algo_quality = algos.algo_quality
        self.algo_quality_summary = algos.algo_quality_summary
        self.export_algo_quality = algos.export_algo_quality
        self.execution_quality = algos.execution_quality
        self.execution_summary = algos.execution_summary
        self.export_execution_quality = algos.export_execution_quality
        self.history_volume_profile = algos.history_volume_profile
        # charts
        self.chart_target = charts.chart_target
        self.chart_choices = charts.chart_choices
        self.follow_iv = charts.follow_iv
        self.chart_bars = charts.chart_bars
        self.chart_history = charts.chart_history
        self.session_bars = charts.session_bars
        self.follow_bars = charts.follow_bars
        self.chart_indicators = charts.chart_indicators
        self.heikin_ashi = charts.heikin_ashi
        # options analytics
        self.option_chains = options.option_chains
        self.expiry_moment = options.expiry_moment
        self.underlying_price = options.underlying_price
        self.chain_analytics = options.chain_analytics
        self.chains_analytics = options.chains_analytics
        self.position_greeks = options.position_greeks
        self.contract_greeks = options.contract_greeks
        self.strategy_leg = options.strategy_leg
        self.position_legs = options.position_legs
        self.option_strategy = options.option_strategy
        self.payoff = options.payoff

    @property
    def option_rate(self) -> float:
        """The rate options analytics discount at (configurable)."""
        return self.options_service.option_rate

    @option_rate.setter
    def option_rate(self, rate: float) -> None:
        self.options_service.option_rate = rate
