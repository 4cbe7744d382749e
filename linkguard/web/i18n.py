"""The screen's words in Japanese (the default) and English.

One catalogue, ``MESSAGES``: key → (Japanese, English). Templates call
``t("key")`` (or ``t("key", n=3)`` for ``str.format`` fields); a test checks
that every key a template uses is here, in both languages.

>>> t = translator("en")
>>> t("queue.title"), translator("ja")("queue.title")
('Held records', '審査待ちの記録')
>>> t("queue.total", n=1234)
'1,234 records'
>>> pick_language("EN"), pick_language("fr"), pick_language(None)
('en', 'ja', 'ja')
"""

from __future__ import annotations

from typing import Callable

__all__ = ["LANGUAGES", "MESSAGES", "translator", "pick_language", "ROLE_KEYS"]

LANGUAGES = ("ja", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # frame
    "app.name": ("紐付けガード", "Linkage guard"),
    "app.subtitle": ("マイナンバー紐付け審査", "My Number linkage review"),
    "nav.skip": ("本文へスキップ", "Skip to content"),
    "nav.queue": ("審査待ち", "Queue"),
    "nav.dashboard": ("運用状況", "Operations"),
    "nav.users": ("利用者管理", "Users"),
    "nav.audit": ("監査ログ", "Audit log"),
    "nav.hq": ("点検本部", "Headquarters"),
    "nav.hq_exposure": ("漏えい調査", "Exposure"),
    "nav.hq_stops": ("連携停止", "Stops"),
    "hq.stop_done": ("連携停止の操作を記録しました。", "The stop action was recorded."),
    "nav.logout": ("ログアウト", "Log out"),
    "nav.language": ("English", "日本語"),
    "nav.language_label": ("表示言語を英語に切り替え", "Switch the screen to Japanese"),
    "nav.signed_in_as": ("ログイン中", "Signed in as"),
    "nav.shortcuts": ("キーボード操作", "Keyboard"),
    "footer.notice": ("特定個人情報を含みます。画面の撮影・印刷・持ち出しは禁止です。操作はすべて記録されます。",
                      "Contains specific personal information. Do not photograph, print or copy this screen. "
                      "Every action is logged."),
    "footer.no_personal": ("この画面に個人情報はありません。操作はすべて記録されます。",
                           "No personal data on this screen. Every action is logged."),
    # roles
    "role.reviewer": ("審査者", "Reviewer"),
    "role.approver": ("承認者", "Approver"),
    "role.operator": ("運用監視", "Operator"),
    "role.admin": ("管理者", "Administrator"),
    "role.headquarters": ("総点検本部", "Headquarters"),
    # login
    "login.title": ("ログイン", "Log in"),
    "login.username": ("利用者ID", "User name"),
    "login.password": ("パスワード", "Password"),
    "login.submit": ("ログイン", "Log in"),
    "login.failed": ("利用者IDまたはパスワードが違います。", "Wrong user name or password."),
    "login.locked": ("ログインの失敗が続いたため、この利用者IDは15分間ログインできません。管理者に連絡してください。",
                     "Too many failed log-ins: this user name is locked for 15 minutes. Contact an administrator."),
    "login.throttled": ("ログインの試行が多すぎます。1分ほど待ってからやり直してください。",
                        "Too many log-in attempts; wait a minute and try again."),
    "login.logged_out": ("ログアウトしました。", "You have logged out."),
    "login.lead": ("職員用の審査システムです。個人のアカウントでログインしてください。",
                   "For staff only. Log in with your own account."),
    # queue
    "queue.title": ("審査待ちの記録", "Held records"),
    "queue.total": ("{n:,} 件", "{n:,} records"),
    "queue.filters": ("絞り込み", "Filters"),
    "queue.system": ("事務", "Process"),
    "queue.reason": ("保留理由", "Reason"),
    "queue.age": ("経過", "Age"),
    "queue.assignee": ("担当者", "Assignee"),
    "queue.order": ("並び順", "Order"),
    "queue.all": ("すべて", "All"),
    "queue.unassigned": ("未割当", "Unassigned"),
    "queue.oldest": ("古い順", "Oldest first"),
    "queue.newest": ("新しい順", "Newest first"),
    "queue.age.1h": ("1時間以上", "Over 1 hour"),
    "queue.age.1d": ("1日以上", "Over 1 day"),
    "queue.age.3d": ("3日以上", "Over 3 days"),
    "queue.age.7d": ("7日以上", "Over 7 days"),
    "queue.apply": ("表示", "Show"),
    "queue.clear": ("条件をクリア", "Clear"),
    "queue.by_reason": ("保留理由ごとの件数", "Held records per reason"),
    "queue.col.held_at": ("保留日時", "Held at"),
    "queue.col.system": ("事務", "Process"),
    "queue.col.name": ("氏名", "Name"),
    "queue.col.number": ("個人番号", "My Number"),
    "queue.col.reasons": ("保留理由", "Reasons"),
    "queue.col.assignee": ("担当", "Assignee"),
    "queue.col.state": ("状態", "State"),
    "queue.empty": ("条件に合う審査待ちの記録はありません。", "No held records match these filters."),
    "queue.next": ("次の {n} 件", "Next {n}"),
    "queue.first": ("先頭へ", "Back to the first page"),
    "queue.pending_release": ("承認待ち（依頼: {user}）", "Awaiting approval (requested by {user})"),
    "queue.open": ("未処理", "Open"),
    "queue.age_days": ("{n}日", "{n} d"),
    "queue.age_hours": ("{n}時間", "{n} h"),
    "queue.age_minutes": ("{n}分", "{n} min"),
    # record
    "record.title": ("記録の審査", "Review a held record"),
    "record.back": ("審査待ち一覧へ戻る", "Back to the queue"),
    "record.system": ("事務", "Process"),
    "record.record_id": ("記録番号", "Record id"),
    "record.held_at": ("保留日時", "Held at"),
    "record.status": ("状態", "Status"),
    "record.reasons": ("保留理由", "Why it was held"),
    "record.comparison": ("記録と住民記録の照合", "The record against the resident registry"),
    "record.field": ("項目", "Field"),
    "record.col.record": ("業務記録", "Business record"),
    "record.col.registry": ("番号の住民（住基）", "Registry person of this number"),
    "record.col.suggested": ("候補の住民（住基）", "Suggested person"),
    "record.normalised": ("正規化", "normalised"),
    "record.differs": ("不一致", "differs"),
    "record.char_differs": ("この文字が異なります", "this character differs"),
    "record.legend_chars": ("異なる文字（正規化した形で比較）", "differing characters (in the normalised form)"),
    "record.same": ("一致", "same"),
    "record.legend_differs": ("業務記録と番号の住民で一致しない項目", "fields where the record and the registry person differ"),
    "record.legend_normalised": ("照合に使う正規化した形（異体字・かな・住所表記をそろえたもの）",
                                 "the normalised form the rules compare (variants, kana and address forms folded)"),
    "record.absent": ("該当なし", "none"),
    "record.no_registry": ("この番号の住民は住民記録にありません。", "No resident in the registry has this number."),
    "record.number": ("個人番号", "My Number"),
    "record.reveal": ("番号を表示", "Reveal"),
    "record.reveal_record": ("業務記録の個人番号を表示", "Reveal the record's My Number"),
    "record.reveal_suggested": ("候補の個人番号を表示", "Reveal the suggested My Number"),
    "record.reveal_hint": ("表示は監査ログに記録されます", "Revealing is recorded in the audit log"),
    "record.revealed": ("表示中（記録済み）", "Revealed (logged)"),
    "record.batch_peers": ("同じ一括入力のもう一方の記録", "The other record of the batch"),
    "record.history": ("経過", "History"),
    "record.history_empty": ("これまでの経過はありません。", "No earlier events or decisions."),
    "record.decisions": ("判断", "Decision"),
    "record.comment": ("コメント（必須）", "Comment (required)"),
    "record.comment_help": ("判断の根拠を記入してください。監査ログに残ります。",
                            "Say why; it is kept in the audit log."),
    "record.release": ("送信を依頼（要承認）", "Request release (needs approval)"),
    "record.release_help": ("紐付けは正しいと判断し、別の承認者の承認を経て中間サーバーへ送ります。",
                            "The linkage is right despite the hold; a second person must approve before it is sent."),
    "record.approve": ("承認して送信", "Approve and send"),
    "record.approve_help": ("依頼者とは別の承認者が確認し、承認すると中間サーバーへ送られます。",
                            "A second person, not the requester, checks and approves; then the record is sent."),
    "record.approve_own": ("あなたが送信を依頼した記録は、あなた自身では承認できません（二人確認）。別の承認者に依頼してください。",
                           "You requested this release, so you cannot approve it (four eyes). Ask another approver."),
    "record.approve_none": ("送信の依頼がまだありません。承認は依頼の後にできます。",
                            "No release has been requested yet; approval comes after a request."),
    "record.approve_role": ("承認には承認者の権限が必要です。", "Approving needs the approver role."),
    "record.pending": ("送信依頼あり: {user}（{at}）「{comment}」", "Release requested by {user} ({at}): “{comment}”"),
    "record.correct": ("番号を訂正", "Correct the number"),
    "record.correct_help": ("正しい個人番号を入力するか候補を採用します。訂正した記録はもう一度ガードの検査を受けます。",
                            "Enter the right number or accept the suggestion; the corrected record is checked by "
                            "the guard again."),
    "record.new_number": ("正しい個人番号（12桁）", "Correct My Number (12 digits)"),
    "record.use_suggestion": ("候補の番号 {masked} を採用", "Use the suggested number {masked}"),
    "record.return": ("業務システムへ差し戻し", "Return to the business system"),
    "record.return_help": ("申請者への確認などのため、業務システムに差し戻します。",
                           "Send back to the business system, e.g. to re-check with the applicant."),
    "record.assign": ("担当者", "Assignee"),
    "record.assign_submit": ("担当を設定", "Assign"),
    "record.assign_me": ("自分が担当", "Assign to me"),
    "record.not_open": ("この記録は審査済みです（{status}）。", "This record has been decided ({status})."),
    "record.shortcuts": ("キー操作: r 依頼・a 承認・c 訂正・b 差し戻し（コメント欄へ移動）、Esc 一覧へ",
                         "Keys: r release, a approve, c correct, b return (to the comment box), Esc back to the queue"),
    "record.decided_pending": ("判断を送信しました。ガードの処理後に反映されます。",
                               "Decision sent; it shows once the guard has processed it."),
    "record.in_flight": ("送信済みでガードの処理待ちの判断:", "Sent, waiting for the guard:"),
    "record.in_flight_hint": ("反映されるまで、この画面を開き直してください。", "reload this page to see it applied."),
    "action.REQUEST_RELEASE": ("送信依頼", "release request"),
    "action.APPROVE_RELEASE": ("承認", "approval"),
    "action.CORRECT": ("訂正", "correction"),
    "action.RETURN": ("差し戻し", "return"),
    "action.ASSIGN": ("担当設定", "assignment"),
    "status.open": ("審査待ち", "open"),
    "status.superseded": ("新しい記録で解消", "superseded"),
    "status.released": ("承認済み・送信", "released"),
    "status.corrected": ("訂正済み", "corrected"),
    "status.returned": ("差し戻し済み", "returned"),
    "flash.requested": ("送信を依頼しました。別の承認者の承認を待っています。",
                        "Release requested; waiting for another approver."),
    "flash.approved": ("承認しました。ガードが処理すると中間サーバーへ送られます。",
                       "Approved; the record is sent once the guard has processed it."),
    "flash.corrected": ("訂正した記録を送信しました。ガードが改めて検査します。",
                        "Corrected record sent; the guard checks it again."),
    "flash.returned": ("業務システムへ差し戻しました。", "Returned to the business system."),
    "flash.assigned": ("担当者を設定しました。", "Assignee set."),
    # errors
    "error.title": ("エラー", "Error"),
    "error.403": ("この画面を見る権限がありません。", "You do not have the role this page needs."),
    "error.404": ("見つかりません。リンクが古いか、正しくありません。", "Not found: the link is old or not valid."),
    "error.csrf": ("画面の有効期限が切れました。ページを開き直してもう一度操作してください。",
                   "This form has expired. Reload the page and try again."),
    "error.comment_required": ("コメントを入力してください。", "Please write a comment."),
    "error.four_eyes": ("送信を依頼した本人は承認できません（二人確認）。", "The requester cannot approve (four eyes)."),
    "error.not_open": ("この記録はすでに審査済みです。", "This record is no longer open."),
    "error.bad_number": ("個人番号が正しくありません（12桁・検査用数字を確認してください）。",
                         "That is not a valid My Number (12 digits with a correct check digit)."),
    "error.forbidden": ("この操作をする権限がありません。", "You do not have the role for this action."),
    "error.review": ("操作できませんでした: {detail}", "Could not do that: {detail}"),
    "error.back": ("戻る", "Back"),
    # dashboard
    "dash.title": ("運用状況", "Operations"),
    "dash.lead": ("個人情報は表示しません。{n} 秒ごとに自動で計測しています。",
                  "No personal data here. Sampled every {n} seconds."),
    "dash.sample_now": ("今すぐ計測", "Sample now"),
    "dash.lag": ("コンシューマーグループ別の遅延（件）", "Lag per consumer group (records)"),
    "dash.lag_short": ("件の遅延", "behind"),
    "dash.throughput": ("グループ別の処理件数（件／秒）", "Throughput per consumer group (messages per second)"),
    "dash.rate_unit": ("件／秒", "msg/s"),
    "dash.queue": ("審査待ちの件数", "Review queue depth"),
    "dash.dead": ("デッドレター件数", "Dead letters"),
    "dash.now": ("現在", "now"),
    "dash.no_data": ("まだ計測値がありません。", "No samples yet."),
    "dash.kafka_down": ("Kafka に接続できません: {detail}", "Kafka is not reachable: {detail}"),
    "dash.samples": ("{n} 件の計測（{minutes} 分間）", "{n} samples over {minutes} min"),
    "dash.last": ("最終計測 {at}", "Last sample {at}"),
    "dash.group": ("グループ", "Group"),
    "dash.table": ("数値", "Figures"),
    "dash.metric": ("指標", "Metric"),
    "dash.value": ("値", "Value"),
    # admin
    "users.title": ("利用者管理", "Users"),
    "users.create": ("利用者を追加", "Add a user"),
    "users.username": ("利用者ID", "User name"),
    "users.display_name": ("表示名", "Display name"),
    "users.password": ("初期パスワード（12文字以上）", "Initial password (12 characters or more)"),
    "users.roles": ("権限", "Roles"),
    "users.active": ("状態", "State"),
    "users.is_active": ("有効", "active"),
    "users.is_inactive": ("無効", "deactivated"),
    "users.save_roles": ("権限を保存", "Save roles"),
    "users.deactivate": ("無効にする", "Deactivate"),
    "users.activate": ("有効にする", "Activate"),
    "users.created": ("利用者 {user} を追加しました。", "User {user} added."),
    "users.updated": ("利用者 {user} を更新しました。", "User {user} updated."),
    "users.error": ("利用者を保存できませんでした: {detail}", "Could not save the user: {detail}"),
    "users.short_password": ("パスワードは12文字以上にしてください。", "The password must have 12 characters or more."),
    "users.bad_username": ("利用者IDは英小文字・数字・「.-_」で3〜32文字です。",
                           "User names are 3–32 lower-case letters, digits or . - _"),
    "users.self": ("自分自身は無効にできません。", "You cannot deactivate yourself."),
    "audit.title": ("監査ログ", "Audit log"),
    "audit.export": ("CSVで書き出す", "Export as CSV"),
    "audit.at": ("日時", "When"),
    "audit.actor": ("利用者", "Who"),
    "audit.action": ("操作", "Action"),
    "audit.target": ("対象", "Record"),
    "audit.detail": ("内容", "Detail"),
    "audit.actor_filter": ("利用者で絞り込み", "Filter by user"),
    "audit.older": ("さらに古い記録", "Older entries"),
    "audit.empty": ("記録はありません。", "No entries."),
}

ROLE_KEYS = {"reviewer": "role.reviewer", "approver": "role.approver", "operator": "role.operator",
             "admin": "role.admin",
             "headquarters": "role.headquarters"}


def pick_language(value: str | None) -> str:
    """A supported language code from a query parameter or setting; Japanese otherwise."""
    value = (value or "").strip().lower()
    return value if value in LANGUAGES else "ja"


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **fields)`` in ``lang``; an unknown key shows as itself (and fails the catalogue test)."""
    index = LANGUAGES.index(pick_language(lang))

    def t(key: str, **fields: object) -> str:
        entry = MESSAGES.get(key)
        if entry is None:
            return key
        return entry[index].format(**fields) if fields else entry[index]

    return t
