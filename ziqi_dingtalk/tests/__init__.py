from . import (
    test_callback,
    test_event_budget,
    test_login,
    test_login_abuse,
    test_notify,
    test_security,
    test_settings,
    test_sync,
    test_sync_http,
    test_tour_settings,
    test_wake,
)
