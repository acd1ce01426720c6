from . import test_leave_import, test_leave_security
