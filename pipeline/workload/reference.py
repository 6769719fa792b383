"""Static facts the generator draws from: currencies, countries, merchant categories."""

from pipeline.money import CURRENCIES  # noqa: F401 (the system's currencies, defined once)

CURRENCY_WEIGHTS = (0.45, 0.30, 0.15, 0.05, 0.05)

# country -> (home timezone, currency, a representative IPv4 prefix for logins)
COUNTRIES = {
    "US": ("America/New_York", "USD", "23.45"),
    "GB": ("Europe/London", "GBP", "81.2"),
    "DE": ("Europe/Berlin", "EUR", "91.12"),
    "FR": ("Europe/Paris", "EUR", "90.80"),
    "JP": ("Asia/Tokyo", "JPY", "126.7"),
    "CH": ("Europe/Zurich", "CHF", "85.1"),
    "BR": ("America/Sao_Paulo", "USD", "177.9"),
    "AU": ("Australia/Sydney", "USD", "1.120"),
}
HOME_COUNTRIES = ("US", "GB", "DE", "FR", "JP", "CH")
# Pairs no one travels between in minutes.
FAR_APART = (("US", "JP"), ("GB", "AU"), ("DE", "BR"), ("FR", "AU"), ("CH", "BR"))

EVERYDAY_MCCS = ("5411", "5812", "5814", "5541", "4111", "5311", "5999", "5732", "4121", "5912")
HIGH_RISK_MCCS = ("7995", "6051", "4829")  # gambling, crypto/quasi-cash, wire transfer

# Per-hour (UTC) traffic multiplier: quiet nights, lunch and evening peaks.
DAILY_SHAPE = (0.3, 0.25, 0.2, 0.2, 0.25, 0.35, 0.55, 0.8, 1.0, 1.1, 1.15, 1.3,
               1.4, 1.3, 1.15, 1.1, 1.15, 1.25, 1.35, 1.3, 1.1, 0.85, 0.6, 0.4)

# Per-weekday (Monday first) multiplier of the history's daily volume: busy Fridays, quiet Sundays.
WEEKLY_SHAPE = (0.95, 0.97, 1.0, 1.03, 1.2, 1.1, 0.75)
