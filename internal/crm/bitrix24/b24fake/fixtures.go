package b24fake

// Golden answers copied from the Bitrix24 REST documentation (field by
// field, values as the pages show them; long lists abridged where marked).
// The fake's state is seeded from them and its answers are built in the
// same shape, so the client is tested against the vendor's documented
// contract, not against what the fake's author believed.

// DealGet410 is the "Response Handling" example of crm.deal.get,
// https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-get.html
// (UTM_* and a few rarely used members abridged; one custom field added as
// the page's note on UF_CRM_* fields describes them).
const DealGet410 = `{
    "result": {
        "ID": "410",
        "TITLE": "New Deal #1",
        "TYPE_ID": "COMPLEX",
        "STAGE_ID": "PREPARATION",
        "PROBABILITY": "99",
        "CURRENCY_ID": "EUR",
        "OPPORTUNITY": "1000000.00",
        "IS_MANUAL_OPPORTUNITY": "Y",
        "TAX_VALUE": "0.00",
        "LEAD_ID": null,
        "COMPANY_ID": "9",
        "CONTACT_ID": "84",
        "QUOTE_ID": null,
        "BEGINDATE": "2024-08-30T02:00:00+02:00",
        "CLOSEDATE": "2024-09-09T02:00:00+02:00",
        "ASSIGNED_BY_ID": "1",
        "CREATED_BY_ID": "1",
        "MODIFY_BY_ID": "1",
        "DATE_CREATE": "2024-08-30T14:29:00+02:00",
        "DATE_MODIFY": "2024-08-30T14:29:00+02:00",
        "OPENED": "Y",
        "CLOSED": "N",
        "COMMENTS": "[B]Example comment[/B]",
        "ADDITIONAL_INFO": "Additional information",
        "LOCATION_ID": null,
        "CATEGORY_ID": "0",
        "STAGE_SEMANTIC_ID": "P",
        "IS_NEW": "N",
        "IS_RECURRING": "N",
        "IS_RETURN_CUSTOMER": "N",
        "IS_REPEATED_APPROACH": "N",
        "SOURCE_ID": "CALLBACK",
        "SOURCE_DESCRIPTION": "Additional information about the source",
        "ORIGINATOR_ID": null,
        "ORIGIN_ID": null,
        "MOVED_BY_ID": "1",
        "MOVED_TIME": "2024-08-30T14:29:00+02:00",
        "LAST_ACTIVITY_TIME": "2024-08-30T14:29:00+02:00",
        "LAST_ACTIVITY_BY": "1",
        "UF_CRM_1725365834": "string value"
    },
    "time": {
        "start": 1725020945.541275,
        "finish": 1725020946.179076,
        "duration": 0.637801170349121,
        "processing": 0.10870885848999023,
        "date_start": "2024-08-30T14:29:05+02:00",
        "date_finish": "2024-08-30T14:29:06+02:00",
        "operating_reset_at": 1725021545,
        "operating": 0.10868000984191895
    }
}`

// ContactGet84 follows the example of crm.contact.get,
// https://apidocs.bitrix24.com/api-reference/crm/contacts/crm-contact-get.html
// (multifields PHONE and EMAIL as [{ID, VALUE_TYPE, VALUE, TYPE_ID}]).
const ContactGet84 = `{
    "result": {
        "ID": "84",
        "POST": "Manager",
        "COMMENTS": "",
        "HONORIFIC": null,
        "NAME": "Ivan",
        "SECOND_NAME": null,
        "LAST_NAME": "Petrov",
        "PHOTO": null,
        "LEAD_ID": null,
        "TYPE_ID": "CLIENT",
        "SOURCE_ID": "SELF",
        "SOURCE_DESCRIPTION": null,
        "COMPANY_ID": "9",
        "BIRTHDATE": "",
        "EXPORT": "Y",
        "HAS_PHONE": "Y",
        "HAS_EMAIL": "Y",
        "HAS_IMOL": "N",
        "DATE_CREATE": "2024-08-30T14:20:00+02:00",
        "DATE_MODIFY": "2024-08-30T14:20:00+02:00",
        "ASSIGNED_BY_ID": "1",
        "CREATED_BY_ID": "1",
        "MODIFY_BY_ID": "1",
        "OPENED": "Y",
        "ORIGINATOR_ID": null,
        "ORIGIN_ID": null,
        "LAST_ACTIVITY_BY": "1",
        "LAST_ACTIVITY_TIME": "2024-08-30T14:20:00+02:00",
        "PHONE": [
            {"ID": "1110", "VALUE_TYPE": "WORK", "VALUE": "+79161234567", "TYPE_ID": "PHONE"}
        ],
        "EMAIL": [
            {"ID": "1112", "VALUE_TYPE": "WORK", "VALUE": "ivan@example.com", "TYPE_ID": "EMAIL"}
        ],
        "UF_CRM_CARD": "A-1001"
    },
    "time": {"start": 1725020945.5, "finish": 1725020945.6, "duration": 0.1, "processing": 0.05,
        "date_start": "2024-08-30T14:29:05+02:00", "date_finish": "2024-08-30T14:29:05+02:00",
        "operating_reset_at": 1725021545, "operating": 0}
}`

// ContactUpdateOK is the answer of crm.contact.update,
// https://apidocs.bitrix24.com/api-reference/crm/contacts/crm-contact-update.html
const ContactUpdateOK = `{"result": true, "time": {"start": 1725020945.5, "finish": 1725020945.6, "duration": 0.1,
    "processing": 0.05, "date_start": "2024-08-30T14:29:05+02:00", "date_finish": "2024-08-30T14:29:05+02:00",
    "operating_reset_at": 1725021545, "operating": 0}}`

// DealUpdateOK is the answer of crm.deal.update,
// https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-update.html
const DealUpdateOK = `{"result": true, "time": {"start": 1725020945.5, "finish": 1725020945.6, "duration": 0.1,
    "processing": 0.05, "date_start": "2024-08-30T14:29:05+02:00", "date_finish": "2024-08-30T14:29:05+02:00",
    "operating_reset_at": 1725021545, "operating": 0}}`

// CommentAddOK is the answer of crm.timeline.comment.add (the new comment's
// id), https://apidocs.bitrix24.com/api-reference/crm/timeline/comments/crm-timeline-comment-add.html
const CommentAddOK = `{"result": 999, "time": {"start": 1725020945.5, "finish": 1725020945.6, "duration": 0.1,
    "processing": 0.05, "date_start": "2024-08-30T14:29:05+02:00", "date_finish": "2024-08-30T14:29:05+02:00",
    "operating_reset_at": 1725021545, "operating": 0}}`

// DealCategoryDefault is crm.dealcategory.default.get,
// https://apidocs.bitrix24.com/api-reference/crm/outdated/category-old/crm-deal-category-default-get.html
const DealCategoryDefault = `{"result": {"ID": 0, "NAME": "General"}}`

// DealCategoryList is crm.dealcategory.list (the default pipeline 0 is not
// in it), https://apidocs.bitrix24.com/api-reference/crm/outdated/category-old/crm-deal-category-list.html
const DealCategoryList = `{"result": [
    {"ID": "1", "CREATED_DATE": "2024-03-12T11:29:00+03:00", "NAME": "Wholesale", "IS_LOCKED": "N", "SORT": "100"}
], "total": 1}`

// StatusList is crm.status.list for DEAL_STAGE and DEAL_STAGE_1,
// https://apidocs.bitrix24.com/api-reference/crm/status/crm-status-list.html
// (the pipeline's stages are its own STATUS_IDs, prefixed C<id>: outside
// the default pipeline; EXTRA abridged to SEMANTICS and COLOR).
const StatusList = `{"result": [
    {"ID": "1", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "NEW", "NAME": "New", "NAME_INIT": "New", "SORT": "10", "SYSTEM": "Y", "CATEGORY_ID": "0", "COLOR": "#39A8EF", "SEMANTICS": null, "EXTRA": {"SEMANTICS": "process", "COLOR": "#39A8EF"}},
    {"ID": "2", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "PREPARATION", "NAME": "Preparing documents", "NAME_INIT": "Preparing documents", "SORT": "20", "SYSTEM": "N", "CATEGORY_ID": "0", "COLOR": "#2FC6F6", "SEMANTICS": null, "EXTRA": {"SEMANTICS": "process", "COLOR": "#2FC6F6"}},
    {"ID": "3", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "EXECUTING", "NAME": "In progress", "NAME_INIT": "In progress", "SORT": "40", "SYSTEM": "N", "CATEGORY_ID": "0", "COLOR": "#FFA900", "SEMANTICS": null, "EXTRA": {"SEMANTICS": "process", "COLOR": "#FFA900"}},
    {"ID": "4", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "WON", "NAME": "Deal won", "NAME_INIT": "Deal won", "SORT": "60", "SYSTEM": "Y", "CATEGORY_ID": "0", "COLOR": "#7BD500", "SEMANTICS": "S", "EXTRA": {"SEMANTICS": "success", "COLOR": "#7BD500"}},
    {"ID": "5", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "LOSE", "NAME": "Deal lost", "NAME_INIT": "Deal lost", "SORT": "70", "SYSTEM": "Y", "CATEGORY_ID": "0", "COLOR": "#FF5752", "SEMANTICS": "F", "EXTRA": {"SEMANTICS": "failure", "COLOR": "#FF5752"}},
    {"ID": "20", "ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "C1:NEW", "NAME": "New", "NAME_INIT": "New", "SORT": "10", "SYSTEM": "Y", "CATEGORY_ID": "1", "COLOR": "#39A8EF", "SEMANTICS": null, "EXTRA": {"SEMANTICS": "process", "COLOR": "#39A8EF"}},
    {"ID": "21", "ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "C1:WON", "NAME": "Deal won", "NAME_INIT": "Deal won", "SORT": "60", "SYSTEM": "Y", "CATEGORY_ID": "1", "COLOR": "#7BD500", "SEMANTICS": "S", "EXTRA": {"SEMANTICS": "success", "COLOR": "#7BD500"}}
], "total": 7}`

// UserGet is user.get (abridged to the members we read and a few more),
// https://apidocs.bitrix24.com/api-reference/user/user-get.html
const UserGet = `{"result": [
    {"ID": "1", "XML_ID": "30428214", "ACTIVE": true, "NAME": "John", "LAST_NAME": "Smith", "SECOND_NAME": "", "EMAIL": "john@example.com", "LAST_LOGIN": "2024-08-30T14:00:00+02:00", "DATE_REGISTER": "2023-03-15T03:00:00+03:00", "IS_ONLINE": "Y", "TIME_ZONE": "", "PERSONAL_GENDER": "M", "WORK_POSITION": "Head of sales", "UF_DEPARTMENT": [1], "USER_TYPE": "employee"},
    {"ID": "7", "XML_ID": "30428215", "ACTIVE": true, "NAME": "Anna", "LAST_NAME": "Ivanova", "SECOND_NAME": "", "EMAIL": "anna@example.com", "LAST_LOGIN": "2024-08-29T10:00:00+02:00", "DATE_REGISTER": "2023-05-01T03:00:00+03:00", "IS_ONLINE": "N", "TIME_ZONE": "", "PERSONAL_GENDER": "F", "WORK_POSITION": "Manager", "UF_DEPARTMENT": [1], "USER_TYPE": "employee"}
], "total": 2}`

// DealFields is crm.deal.fields (abridged: the members we read and one
// custom field with its labels),
// https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-fields.html
const DealFields = `{"result": {
    "ID": {"type": "integer", "isRequired": false, "isReadOnly": true, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": "ID"},
    "TITLE": {"type": "string", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": "Name"},
    "STAGE_ID": {"type": "crm_status", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": false, "statusType": "DEAL_STAGE", "title": "Stage"},
    "CATEGORY_ID": {"type": "crm_category", "isRequired": false, "isReadOnly": false, "isImmutable": true, "isMultiple": false, "isDynamic": false, "title": "Pipeline"},
    "OPPORTUNITY": {"type": "double", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": "Amount"},
    "ASSIGNED_BY_ID": {"type": "user", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": "Responsible person"},
    "UF_CRM_1725365834": {"type": "string", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": true, "title": "UF_CRM_1725365834", "listLabel": "Executor phone", "formLabel": "Executor phone", "filterLabel": "Executor phone", "settings": {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": ""}}
}}`

// ContactFields is crm.contact.fields (abridged likewise),
// https://apidocs.bitrix24.com/api-reference/crm/contacts/crm-contact-fields.html
const ContactFields = `{"result": {
    "ID": {"type": "integer", "isRequired": false, "isReadOnly": true, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": "ID"},
    "NAME": {"type": "string", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": "First name"},
    "PHONE": {"type": "crm_multifield", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": true, "isDynamic": false, "title": "Phone"},
    "UF_CRM_CARD": {"type": "string", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": true, "title": "UF_CRM_CARD", "listLabel": "Loyalty card", "formLabel": "Loyalty card", "filterLabel": "Loyalty card"}
}}`

// Error answers: https://apidocs.bitrix24.com/error-codes.html (system
// errors, any method) and the "Error Handling" sections of the methods'
// pages (an unknown id: HTTP 400, empty code, "Not found").
const (
	ErrNotFound          = `{"error": "", "error_description": "Not found"}`
	ErrQueryLimit        = `{"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}`
	ErrNoAuthFound       = `{"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}`
	ErrInvalidCredential = `{"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}`
	ErrMethodNotFound    = `{"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}`
	ErrInternal          = `{"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}`
	ErrIDNotDefined      = `{"error": "", "error_description": "ID is not defined or invalid."}`
)

// DealUpdateEvent is the form an ONCRMDEALUPDATE delivery carries, as the
// PHP array of https://apidocs.bitrix24.com/api-reference/crm/deals/events/on-crm-deal-update.html
// encodes it (outgoing webhooks send auth without OAuth tokens).
const DealUpdateEvent = "event=ONCRMDEALUPDATE&event_handler_id=5&data%5BFIELDS%5D%5BID%5D=410&ts=1466439714" +
	"&auth%5Bdomain%5D=some-domain.bitrix24.com&auth%5Bclient_endpoint%5D=https%3A%2F%2Fsome-domain.bitrix24.com%2Frest%2F" +
	"&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F&auth%5Bmember_id%5D=a223c6b3710f85df22e9377d6c4f7553" +
	"&auth%5Bapplication_token%5D=51856fefc120afa4b628cc82d3935cce"
