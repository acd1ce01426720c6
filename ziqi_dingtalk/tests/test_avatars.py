"""Profile pictures: a full sync makes the DingTalk photos (``avatar``) the pictures of employees and of the
users it created, downloading only the photos that changed; a broken one is logged and never fails the run."""

import base64

import requests

from odoo.tests import tagged

from .common import DingTalkCase

ORG = {"users": 12, "departments": 3, "roles": 1, "seed": 5}
PICTURES = "/_static/avatar"  # the sandbox counts picture downloads under this path


@tagged("post_install", "-at_install")
class TestAvatars(DingTalkCase):
    sandbox_args = ("--users", "12", "--departments", "3", "--roles", "1", "--seed", "5")

    def setUp(self):
        super().setUp()
        self.sandbox.control("reset", ORG)
        people = [u for u in self.sandbox.control("org")["users"] if not u.get("left")]
        self.with_photo = [u for u in people if u.get("avatar")]
        self.without_photo = [u for u in people if not u.get("avatar")]
        self.assertTrue(self.with_photo and self.without_photo, "the sandbox org has both")
        self.Employee = self.env["hr.employee"].with_context(active_test=False)

    # --- helpers ---

    def sync(self):
        run = self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        self.assertEqual(run.state, "done", run.log_ids.mapped("message"))
        return run

    def employee(self, userid):
        return self.Employee.search([("dingtalk_userid", "=", userid), ("company_id", "=", self.company.id)])

    def downloads(self):
        return self.sandbox.stats().get(PICTURES, 0)

    def picture(self, path):
        """The bytes the sandbox serves at ``path`` (counted as a download: call it after counting)."""
        return requests.get(self.sandbox.url + path, timeout=10).content

    def set_photo(self, userid, path):
        self.sandbox.control("mutate", {"op": "update_user", "userid": userid, "avatar": path})

    def image(self, record):
        return base64.b64decode(record.image_1920) if record.image_1920 else b""

    # --- scenarios ---

    def test_a_sync_makes_the_photos_the_pictures(self):
        self.sandbox.control("stats/reset", {})
        run = self.sync()
        self.assertFalse(run.log_ids, run.log_ids.mapped("message"))
        self.assertEqual(self.downloads(), len(self.with_photo), "each photo once")
        for person in self.with_photo:
            employee = self.employee(person["userid"])
            photo = self.picture(person["avatar"])
            self.assertEqual(self.image(employee), photo)
            self.assertEqual(employee.dingtalk_avatar_url, self.sandbox.url + person["avatar"])
            self.assertTrue(employee.user_id.dingtalk_created)
            self.assertEqual(self.image(employee.user_id), photo, "the user the sync created too")
        for person in self.without_photo:
            employee = self.employee(person["userid"])
            self.assertIn(b"<svg", self.image(employee), "DingTalk's default picture: Odoo's initials stay")
            self.assertFalse(employee.dingtalk_avatar_url)

    def test_a_resync_downloads_only_what_changed(self):
        self.sync()
        self.sandbox.control("stats/reset", {})
        self.sync()
        self.assertEqual(self.downloads(), 0, "unchanged photos are not downloaded again")

        person = self.with_photo[0]
        employee = self.employee(person["userid"])
        before = self.image(employee)
        new_path = person["avatar"].replace("-1.png", "-2.png")
        self.set_photo(person["userid"], new_path)
        self.sandbox.control("stats/reset", {})
        self.sync()
        self.assertEqual(self.downloads(), 1, "only the new photo")
        self.assertEqual(self.image(employee), self.picture(new_path))
        self.assertNotEqual(self.image(employee), before)
        self.assertEqual(self.image(employee.user_id), self.image(employee))
        self.assertEqual(employee.dingtalk_avatar_url, self.sandbox.url + new_path)

    def test_a_removed_photo_clears_nothing(self):
        self.sync()
        person = self.with_photo[0]
        employee = self.employee(person["userid"])
        photo = self.image(employee)
        self.set_photo(person["userid"], "")
        self.sandbox.control("stats/reset", {})
        self.sync()
        self.assertEqual(self.image(employee), photo, "a picture is never deleted by the sync")
        self.assertFalse(employee.dingtalk_avatar_url, "forgotten: the next photo is downloaded")
        self.set_photo(person["userid"], person["avatar"])
        self.sync()
        self.assertEqual(self.downloads(), 1, "the same photo again is downloaded again")
        self.assertEqual(employee.dingtalk_avatar_url, self.sandbox.url + person["avatar"])

    def test_a_broken_picture_is_logged_and_the_run_goes_on(self):
        garbage, missing = self.with_photo[0], self.with_photo[1]
        self.sandbox_fault(garbage["avatar"], body="<html>not a picture</html>", content_type="text/html")
        self.sandbox_fault(missing["avatar"], http_status=404)
        run = self.sync()
        logged = {log.key: log.message for log in run.log_ids}
        self.assertEqual(set(logged), {garbage["userid"], missing["userid"]}, logged)
        self.assertIn("text/html", logged[garbage["userid"]])
        self.assertIn("404", logged[missing["userid"]])
        self.assertEqual(run.stats["users"]["created"], len(self.with_photo) + len(self.without_photo))
        for person in (garbage, missing):
            employee = self.employee(person["userid"])
            self.assertIn(b"<svg", self.image(employee), "nothing written from a failed download")
            self.assertFalse(employee.dingtalk_avatar_url)
        others = self.with_photo[2:]
        self.assertTrue(all(self.employee(p["userid"]).dingtalk_avatar_url for p in others))
        self.sandbox.control("stats/reset", {})
        again = self.sync()
        self.assertFalse(again.log_ids, "the next sync tries again, and the faults are spent")
        self.assertEqual(self.downloads(), 2)
        self.assertEqual(self.image(self.employee(garbage["userid"])), self.picture(garbage["avatar"]))

    def test_the_setting_off_downloads_nothing(self):
        self.company.dingtalk_sync_avatars = False
        self.sandbox.control("stats/reset", {})
        run = self.sync()
        self.assertFalse(run.log_ids)
        self.assertEqual(self.downloads(), 0)
        employee = self.employee(self.with_photo[0]["userid"])
        self.assertIn(b"<svg", self.image(employee))
        self.assertFalse(employee.dingtalk_avatar_url)
        self.company.dingtalk_sync_avatars = True
        self.sync()
        self.assertEqual(self.downloads(), len(self.with_photo), "turned on again: the photos come")

    def test_a_matched_user_keeps_its_own_picture(self):
        person = self.with_photo[0]
        own = base64.b64encode(self.picture(self.with_photo[1]["avatar"]))  # any real picture
        user = self.env["res.users"].create(
            {"name": "Existing", "login": "existing_dt", "email": person["email"], "image_1920": own}
        )
        employee = self.env["hr.employee"].create(
            {"name": "Existing", "user_id": user.id, "work_email": person["email"]}
        )
        self.company.dingtalk_match_existing = True
        self.sync()
        self.assertEqual(employee.dingtalk_userid, person["userid"], "matched by e-mail")
        self.assertEqual(self.image(employee), self.picture(person["avatar"]), "the employee: DingTalk's")
        self.assertEqual(user.image_1920, own, "someone's own account keeps its picture")
