/* DingTalk in-app (免登) sign-in: the page DingTalk opens in its workbench, PC or phone.
 * Inside DingTalk it loads DingTalk's JSAPI, asks it for an auth code (dd.requestAuthCode, or the older
 * dd.runtime.permission.requestAuthCode), posts the code to /dingtalk/auth and opens Odoo.
 * Outside DingTalk it says so and offers the normal login. Plain script: no Odoo module system here. */
(function () {
    "use strict";

    const JSAPI = "https://g.alicdn.com/dingding/dingtalk-jsapi/3.1.0/dingtalk.open.js";

    function show(root, selector, text) {
        for (const el of root.querySelectorAll(".o_dingtalk_inapp_working, .o_dingtalk_inapp_outside, .o_dingtalk_inapp_error")) {
            el.classList.add("d-none");
        }
        const target = root.querySelector(selector);
        target.classList.remove("d-none");
        if (text) {
            root.querySelector(".o_dingtalk_inapp_message").textContent = text;
        }
    }

    function insideDingTalk() {
        return /DingTalk/i.test(navigator.userAgent) || Boolean(window.dd);
    }

    function loadJsapi() {
        if (window.dd) {
            return Promise.resolve(window.dd);
        }
        return new Promise((resolve, reject) => {
            const script = document.createElement("script");
            script.src = JSAPI;
            script.onload = () => resolve(window.dd);
            script.onerror = () => reject(new Error("DingTalk JSAPI unavailable"));
            document.head.appendChild(script);
        });
    }

    function requestAuthCode(dd, corpId, clientId) {
        return new Promise((resolve, reject) => {
            const params = { corpId, clientId, onSuccess: (result) => resolve(result.code), onFail: reject };
            if (typeof dd.requestAuthCode === "function") {
                dd.requestAuthCode(params);
            } else {
                dd.runtime.permission.requestAuthCode(params);
            }
        });
    }

    async function start() {
        const root = document.getElementById("dingtalk_inapp");
        if (!insideDingTalk()) {
            show(root, ".o_dingtalk_inapp_outside");
            return { outside: true };
        }
        const params = new URLSearchParams(window.location.search);
        const corpId = params.get("corpid") && !params.get("corpid").includes("$")
            ? params.get("corpid") : root.dataset.corpId;
        const mobile = window.location.hash.startsWith("#/mobile");
        try {
            const dd = await loadJsapi();
            const code = await requestAuthCode(dd, corpId, root.dataset.clientId);
            const body = new URLSearchParams({ code, corp_id: corpId, mobile: mobile ? "1" : "",
                                               csrf_token: root.dataset.csrfToken });
            const response = await fetch("/dingtalk/auth", { method: "POST", body, credentials: "same-origin" });
            const answer = await response.json();
            if (!response.ok) {
                show(root, ".o_dingtalk_inapp_error", answer.message);
                return answer;
            }
            window.location.replace(answer.redirect);
            return answer;
        } catch (error) {
            show(root, ".o_dingtalk_inapp_error", String(error.message || error));
            return { error: String(error) };
        }
    }

    window.dingtalkInapp = { start };
    document.addEventListener("DOMContentLoaded", start);
})();
