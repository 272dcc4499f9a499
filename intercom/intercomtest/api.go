package intercomtest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/codedrop/codedrop/intercom"
)

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /messages", s.postMessage)
	m.HandleFunc("GET /me", s.me)
	m.HandleFunc("GET /admins", s.listAdmins)
	m.HandleFunc("GET /contacts", s.listContacts)
	m.HandleFunc("POST /contacts", s.createContact)
	m.HandleFunc("POST /contacts/search", s.searchContacts)
	m.HandleFunc("GET /contacts/{id}", s.getContact)
	m.HandleFunc("PUT /contacts/{id}", s.updateContact)
	// One pattern for both: ServeMux rejects the pair as ambiguous.
	m.HandleFunc("GET /contacts/{id}/{sub}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.PathValue("id") == "find_by_external_id":
			s.findByExternalID(w, r.PathValue("sub"))
		case r.PathValue("sub") == "tags":
			s.contactTags(w, r)
		default:
			writeError(w, http.StatusNotFound, "not_found", "Resource Not Found", "")
		}
	})
	m.HandleFunc("POST /contacts/{id}/tags", s.tagContact)
	m.HandleFunc("DELETE /contacts/{id}/tags/{tag}", s.untagContact)
	m.HandleFunc("GET /tags", s.listTags)
	m.HandleFunc("POST /tags", s.createTag)
	m.HandleFunc("GET /data_attributes", s.listDataAttributes)
	m.HandleFunc("POST /data_attributes", s.createDataAttribute)
	m.HandleFunc("POST /conversations/{id}/reply", s.replyConversation)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "Resource Not Found", "")
	})
	s.mux = m
}

type wireRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type messageReq struct {
	MessageType        string   `json:"message_type"`
	Subject            string   `json:"subject"`
	Body               string   `json:"body"`
	Template           string   `json:"template"`
	From               *wireRef `json:"from"`
	To                 *wireRef `json:"to"`
	CreateConversation bool     `json:"create_conversation_without_contact_reply"`
}

type messageResp struct {
	Type           string `json:"type"`
	ID             string `json:"id"`
	CreatedAt      int64  `json:"created_at"`
	Subject        string `json:"subject,omitempty"`
	Body           string `json:"body"`
	MessageType    string `json:"message_type"`
	ConversationID string `json:"conversation_id"`
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	var req messageReq
	if !readJSON(w, r, &req) {
		return
	}
	switch {
	case req.MessageType != "inapp" && req.MessageType != "email":
		writeError(w, http.StatusBadRequest, "parameter_invalid", "message_type must be inapp or email", "message_type")
		return
	case req.Body == "":
		writeError(w, http.StatusBadRequest, "parameter_invalid", "Body is required", "body")
		return
	case req.MessageType == "email" && req.Subject == "":
		writeError(w, http.StatusUnprocessableEntity, "parameter_not_found", "No subject supplied for email message", "subject")
		return
	case req.MessageType == "email" && req.Template != "plain" && req.Template != "personal":
		writeError(w, http.StatusBadRequest, "parameter_invalid", "template must be plain or personal", "template")
		return
	case req.From == nil || req.From.Type != "admin":
		writeError(w, http.StatusBadRequest, "parameter_invalid", "from must be an admin", "from")
		return
	case req.To == nil || (req.To.Type != "user" && req.To.Type != "lead") || req.To.ID == "":
		writeError(w, http.StatusBadRequest, "parameter_invalid", "to must be a user or lead with an id", "to")
		return
	}
	s.mu.RLock()
	_, adminOK := s.admins[req.From.ID]
	_, contactOK := s.contacts[req.To.ID]
	s.mu.RUnlock()
	if !adminOK {
		writeError(w, http.StatusNotFound, "admin_not_found", "Admin not found", "from.id")
		return
	}
	if !contactOK {
		writeError(w, http.StatusNotFound, "not_found", "User Not Found", "to.id")
		return
	}
	n := s.seq.Add(1)
	now := s.cfg.now().UTC().Truncate(time.Second)
	msg := Message{
		Message: intercom.Message{
			Type:                                  intercom.MessageType(req.MessageType),
			Subject:                               req.Subject,
			Body:                                  req.Body,
			Template:                              req.Template,
			FromAdminID:                           req.From.ID,
			To:                                    intercom.Recipient{Role: intercom.Role(req.To.Type), ID: req.To.ID},
			CreateConversationWithoutContactReply: req.CreateConversation,
		},
		ID:             strconv.FormatInt(1488971108+n, 10),
		ConversationID: strconv.FormatInt(64619700005570+n, 10),
		CreatedAt:      now,
		UserAgent:      r.UserAgent(),
	}
	s.msgMu.Lock()
	s.messages.add(msg)
	s.msgMu.Unlock()
	writeJSON(w, http.StatusOK, messageResp{
		Type:           "admin_message",
		ID:             msg.ID,
		CreatedAt:      now.Unix(),
		Subject:        req.Subject,
		Body:           req.Body,
		MessageType:    req.MessageType,
		ConversationID: msg.ConversationID,
	})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	a := s.cfg.admins[0]
	writeJSON(w, http.StatusOK, map[string]any{
		"type": "admin", "id": a.ID, "name": a.Name, "email": a.Email, "email_verified": true,
		"has_inbox_seat": a.HasInboxSeat, "away_mode_enabled": a.AwayModeEnabled,
		"app": map[string]any{"type": "app", "id_code": "testapp1", "name": s.cfg.workspace, "region": "US",
			"timezone": "UTC", "created_at": 1700000000, "secure": false, "identity_verification": false},
	})
}

func (s *Server) listAdmins(w http.ResponseWriter, r *http.Request) {
	list := make([]map[string]any, 0, len(s.cfg.admins))
	for _, a := range s.cfg.admins {
		list = append(list, adminJSON(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": "admin.list", "admins": list})
}

func adminJSON(a intercom.Admin) map[string]any {
	return map[string]any{"type": "admin", "id": a.ID, "name": a.Name, "email": a.Email,
		"has_inbox_seat": a.HasInboxSeat, "away_mode_enabled": a.AwayModeEnabled,
		"away_mode_reassign": false, "team_ids": []int{}}
}

// contactJSON renders a contact as Intercom does (inline tags carry ids only).
func contactJSON(c *intercom.Contact) map[string]any {
	tags := make([]map[string]any, 0, len(c.Tags))
	for _, t := range c.Tags {
		tags = append(tags, map[string]any{"type": "tag", "id": t.ID, "url": "/tags/" + t.ID})
	}
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	attrs := c.CustomAttributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	return map[string]any{
		"type": "contact", "id": c.ID, "workspace_id": "testapp1", "external_id": nullable(c.ExternalID),
		"role": string(c.Role), "email": c.Email, "phone": nullable(c.Phone), "name": nullable(c.Name),
		"unsubscribed_from_emails": c.UnsubscribedFromEmails, "custom_attributes": attrs,
		"created_at": c.CreatedAt.Unix(), "updated_at": c.UpdatedAt.Unix(),
		"tags": map[string]any{"type": "list", "data": tags, "url": "/contacts/" + c.ID + "/tags",
			"total_count": len(tags), "has_more": false},
	}
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.RLock()
	c, ok := s.contacts[id]
	var out map[string]any
	if ok {
		out = contactJSON(&c.c)
	}
	canon := s.merged[id]
	s.mu.RUnlock()
	s.answerContact(w, out, canon)
}

func (s *Server) findByExternalID(w http.ResponseWriter, ext string) {
	s.mu.RLock()
	var out map[string]any
	if id, ok := s.byExternal[ext]; ok {
		if c, ok := s.contacts[id]; ok && c.c.Role == intercom.RoleUser {
			out = contactJSON(&c.c)
		}
	}
	canon := s.merged["ext:"+ext]
	s.mu.RUnlock()
	s.answerContact(w, out, canon)
}

func (s *Server) answerContact(w http.ResponseWriter, out map[string]any, canonical string) {
	switch {
	case out != nil:
		writeJSON(w, http.StatusOK, out)
	case canonical != "":
		w.Header().Set("Link", fmt.Sprintf(`</contacts/%s>; rel="canonical"`, canonical))
		writeError(w, http.StatusGone, "contact_merged", "Contact has been merged", "")
	default:
		writeError(w, http.StatusNotFound, "not_found", "User Not Found", "")
	}
}

type contactReq struct {
	Role                   *string        `json:"role"`
	ExternalID             *string        `json:"external_id"`
	Email                  *string        `json:"email"`
	Phone                  *string        `json:"phone"`
	Name                   *string        `json:"name"`
	UnsubscribedFromEmails *bool          `json:"unsubscribed_from_emails"`
	CustomAttributes       map[string]any `json:"custom_attributes"`
}

func (s *Server) applyContact(c *intercom.Contact, req *contactReq) (status int, code, msg string) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	if req.Role != nil {
		if *req.Role != "user" && *req.Role != "lead" {
			return http.StatusBadRequest, "parameter_invalid", "role must be user or lead"
		}
		c.Role = intercom.Role(*req.Role)
	}
	if req.ExternalID != nil && *req.ExternalID != c.ExternalID {
		if other, ok := s.byExternal[*req.ExternalID]; ok && other != c.ID {
			return http.StatusConflict, "conflict", "A contact matching those details already exists with id=" + other
		}
	}
	for k := range req.CustomAttributes {
		if !s.hasAttribute(k) {
			return http.StatusBadRequest, "parameter_invalid", "Custom attribute '" + k + "' does not exist"
		}
	}
	if c.ExternalID != "" && req.ExternalID != nil {
		delete(s.byExternal, c.ExternalID)
	}
	set(&c.ExternalID, req.ExternalID)
	set(&c.Email, req.Email)
	set(&c.Phone, req.Phone)
	set(&c.Name, req.Name)
	if req.UnsubscribedFromEmails != nil {
		c.UnsubscribedFromEmails = *req.UnsubscribedFromEmails
	}
	if len(req.CustomAttributes) > 0 {
		attrs := make(map[string]any, len(c.CustomAttributes)+len(req.CustomAttributes))
		for k, v := range c.CustomAttributes {
			attrs[k] = v
		}
		for k, v := range req.CustomAttributes {
			attrs[k] = v
		}
		c.CustomAttributes = attrs
	}
	if c.ExternalID != "" {
		s.byExternal[c.ExternalID] = c.ID
	}
	c.UpdatedAt = s.cfg.now().UTC().Truncate(time.Second)
	return 0, "", ""
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request) {
	var req contactReq
	if !readJSON(w, r, &req) {
		return
	}
	if req.Role == nil && req.ExternalID == nil && req.Email == nil {
		writeError(w, http.StatusBadRequest, "parameter_invalid", "one of role, external_id or email is required", "")
		return
	}
	s.mu.Lock()
	c := intercom.Contact{ID: s.newID(), Role: intercom.RoleUser, CreatedAt: s.cfg.now().UTC().Truncate(time.Second)}
	if status, code, msg := s.applyContact(&c, &req); status != 0 {
		s.mu.Unlock()
		writeError(w, status, code, msg, "")
		return
	}
	c = s.addContact(c)
	out := contactJSON(&c)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) updateContact(w http.ResponseWriter, r *http.Request) {
	var req contactReq
	if !readJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	stored, ok := s.contacts[r.PathValue("id")]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "not_found", "User Not Found", "")
		return
	}
	c := stored.c
	if status, code, msg := s.applyContact(&c, &req); status != 0 {
		s.mu.Unlock()
		writeError(w, status, code, msg, "")
		return
	}
	stored.c = c
	out := contactJSON(&c)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// page returns the contacts after cursor (ids are in creation order).
func (s *Server) page(ids []string, perPage int, cursor string) (data []map[string]any, next string) {
	start := 0
	if cursor != "" {
		start = slices.Index(ids, cursor) + 1
		if start == 0 {
			start = len(ids)
		}
	}
	end := min(start+perPage, len(ids))
	for _, id := range ids[start:end] {
		data = append(data, contactJSON(&s.contacts[id].c))
	}
	if end < len(ids) && end > start {
		next = ids[end-1]
	}
	return data, next
}

func pageJSON(data []map[string]any, total, perPage int, next string) map[string]any {
	if data == nil {
		data = []map[string]any{}
	}
	pages := map[string]any{"type": "pages", "per_page": perPage, "page": 1,
		"total_pages": (total + perPage - 1) / max(perPage, 1)}
	if next != "" {
		pages["next"] = map[string]any{"per_page": perPage, "starting_after": next}
	}
	return map[string]any{"type": "list", "data": data, "total_count": total, "pages": pages}
}

func perPage(v string) (int, bool) {
	if v == "" {
		return 50, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 1 && n <= 150
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pp, ok := perPage(q.Get("per_page"))
	if !ok {
		writeError(w, http.StatusBadRequest, "parameter_invalid", "per_page must be between 1 and 150", "per_page")
		return
	}
	s.mu.RLock()
	ids := s.liveIDs(nil)
	data, next := s.page(ids, pp, q.Get("starting_after"))
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, pageJSON(data, len(ids), pp, next))
}

// liveIDs returns the ids of existing contacts that match (nil matches all).
func (s *Server) liveIDs(match func(*intercom.Contact) bool) []string {
	ids := make([]string, 0, len(s.order))
	for _, id := range s.order {
		c, ok := s.contacts[id]
		if ok && (match == nil || match(&c.c)) {
			ids = append(ids, id)
		}
	}
	return ids
}

type searchReq struct {
	Query      *query `json:"query"`
	Pagination *struct {
		PerPage       int    `json:"per_page"`
		StartingAfter string `json:"starting_after"`
	} `json:"pagination"`
}

type query struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

func (s *Server) searchContacts(w http.ResponseWriter, r *http.Request) {
	var req searchReq
	if !readJSON(w, r, &req) {
		return
	}
	if req.Query == nil {
		writeError(w, http.StatusBadRequest, "parameter_not_found", "query is required", "query")
		return
	}
	match, err := compileQuery(req.Query, 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_field", err.Error(), "query")
		return
	}
	pp, cursor := 50, ""
	if req.Pagination != nil {
		if req.Pagination.PerPage != 0 {
			pp = req.Pagination.PerPage
		}
		cursor = req.Pagination.StartingAfter
	}
	if pp < 1 || pp > 150 {
		writeError(w, http.StatusBadRequest, "parameter_invalid", "per_page must be between 1 and 150", "pagination.per_page")
		return
	}
	s.mu.RLock()
	ids := s.liveIDs(match)
	data, next := s.page(ids, pp, cursor)
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, pageJSON(data, len(ids), pp, next))
}

// compileQuery supports the common operators on the main string fields and
// custom attributes.
func compileQuery(q *query, depth int) (func(*intercom.Contact) bool, error) {
	if q.Operator == "AND" || q.Operator == "OR" {
		if depth >= 2 {
			return nil, fmt.Errorf("too many nested levels")
		}
		items, ok := q.Value.([]any)
		if !ok || len(items) > 15 {
			return nil, fmt.Errorf("%s needs a list of at most 15 filters", q.Operator)
		}
		var subs []func(*intercom.Contact) bool
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("filter is not an object")
			}
			sub := &query{}
			sub.Field, _ = m["field"].(string)
			sub.Operator, _ = m["operator"].(string)
			sub.Value = m["value"]
			f, err := compileQuery(sub, depth+1)
			if err != nil {
				return nil, err
			}
			subs = append(subs, f)
		}
		and := q.Operator == "AND"
		return func(c *intercom.Contact) bool {
			for _, f := range subs {
				if f(c) != and {
					return !and
				}
			}
			return and
		}, nil
	}
	get, err := fieldGetter(q.Field)
	if err != nil {
		return nil, err
	}
	want := fmt.Sprint(q.Value)
	switch q.Operator {
	case "=":
		return func(c *intercom.Contact) bool { return get(c) == want }, nil
	case "!=":
		return func(c *intercom.Contact) bool { return get(c) != want }, nil
	case "~":
		return func(c *intercom.Contact) bool { return strings.Contains(get(c), want) }, nil
	case "!~":
		return func(c *intercom.Contact) bool { return !strings.Contains(get(c), want) }, nil
	case "^":
		return func(c *intercom.Contact) bool { return strings.HasPrefix(get(c), want) }, nil
	case "$":
		return func(c *intercom.Contact) bool { return strings.HasSuffix(get(c), want) }, nil
	case "IN", "NIN":
		list, _ := q.Value.([]any)
		set := map[string]bool{}
		for _, v := range list {
			set[fmt.Sprint(v)] = true
		}
		in := q.Operator == "IN"
		return func(c *intercom.Contact) bool { return set[get(c)] == in }, nil
	}
	return nil, fmt.Errorf("operator %q is not supported by intercomtest", q.Operator)
}

func fieldGetter(field string) (func(*intercom.Contact) string, error) {
	switch field {
	case "id":
		return func(c *intercom.Contact) string { return c.ID }, nil
	case "external_id":
		return func(c *intercom.Contact) string { return c.ExternalID }, nil
	case "email":
		return func(c *intercom.Contact) string { return c.Email }, nil
	case "name":
		return func(c *intercom.Contact) string { return c.Name }, nil
	case "phone":
		return func(c *intercom.Contact) string { return c.Phone }, nil
	case "role":
		return func(c *intercom.Contact) string { return string(c.Role) }, nil
	case "unsubscribed_from_emails":
		return func(c *intercom.Contact) string { return strconv.FormatBool(c.UnsubscribedFromEmails) }, nil
	case "tag_id":
		return func(c *intercom.Contact) string {
			ids := make([]string, len(c.Tags))
			for i, t := range c.Tags {
				ids[i] = t.ID
			}
			return strings.Join(ids, ",")
		}, nil
	}
	if name, ok := strings.CutPrefix(field, "custom_attributes."); ok {
		return func(c *intercom.Contact) string {
			v, ok := c.CustomAttributes[name]
			if !ok || v == nil {
				return ""
			}
			return fmt.Sprint(v)
		}, nil
	}
	return nil, fmt.Errorf("field %q is not searchable in intercomtest", field)
}

func (s *Server) contactTags(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	c, ok := s.contacts[r.PathValue("id")]
	var data []map[string]any
	if ok {
		for _, t := range c.c.Tags {
			data = append(data, tagJSON(s.tags[t.ID]))
		}
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "User Not Found", "")
		return
	}
	if data == nil {
		data = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": "list", "data": data})
}

func tagJSON(t intercom.Tag) map[string]any {
	return map[string]any{"type": "tag", "id": t.ID, "name": t.Name}
}

func (s *Server) tagContact(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	c, ok := s.contacts[r.PathValue("id")]
	t, tagOK := s.tags[req.ID]
	if ok && tagOK && !slices.ContainsFunc(c.c.Tags, func(x intercom.Tag) bool { return x.ID == t.ID }) {
		c.c.Tags = append(slices.Clip(c.c.Tags), intercom.Tag{ID: t.ID, Name: t.Name})
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "not_found", "User Not Found", "")
	case !tagOK:
		writeError(w, http.StatusNotFound, "not_found", "Resource Not Found", "id")
	default:
		writeJSON(w, http.StatusOK, tagJSON(t))
	}
}

func (s *Server) untagContact(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, ok := s.contacts[r.PathValue("id")]
	t, tagOK := s.tags[r.PathValue("tag")]
	if ok && tagOK {
		c.c.Tags = slices.DeleteFunc(slices.Clone(c.c.Tags), func(x intercom.Tag) bool { return x.ID == t.ID })
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "not_found", "User Not Found", "")
	case !tagOK:
		writeError(w, http.StatusNotFound, "not_found", "Resource Not Found", "")
	default:
		writeJSON(w, http.StatusOK, tagJSON(t))
	}
}

func (s *Server) listTags(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	tags := make([]intercom.Tag, 0, len(s.tags))
	for _, t := range s.tags {
		tags = append(tags, t)
	}
	s.mu.RUnlock()
	slices.SortFunc(tags, func(a, b intercom.Tag) int { return cmp.Compare(a.ID, b.ID) })
	data := make([]map[string]any, len(tags))
	for i, t := range tags {
		data[i] = tagJSON(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": "list", "data": data})
}

func (s *Server) createTag(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, "parameter_invalid", "name is required", "name")
		return
	}
	s.mu.Lock()
	var found *intercom.Tag
	for _, t := range s.tags {
		if strings.EqualFold(t.Name, req.Name) {
			found = &t
			break
		}
	}
	if found == nil {
		t := intercom.Tag{ID: strconv.FormatInt(100000+s.seq.Add(1), 10), Name: req.Name}
		s.tags[t.ID] = t
		found = &t
	}
	t := *found
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tagJSON(t))
}

type dataAttribute struct {
	ID          int64  `json:"id"`
	Model       string `json:"model"`
	Name        string `json:"name"`
	DataType    string `json:"data_type"`
	Description string `json:"description,omitempty"`
	Options     []struct {
		Value string `json:"value"`
	} `json:"options,omitempty"`
	MessengerWritable bool `json:"messenger_writable"`
}

func (s *Server) hasAttribute(name string) bool {
	for _, a := range s.attrs {
		if a.Name == name && a.Model == "contact" {
			return true
		}
	}
	return false
}

func attrJSON(a dataAttribute) map[string]any {
	return map[string]any{"type": "data_attribute", "id": a.ID, "model": a.Model, "name": a.Name,
		"full_name": "custom_attributes." + a.Name, "label": a.Name, "description": a.Description,
		"data_type": a.DataType, "api_writable": true, "messenger_writable": a.MessengerWritable,
		"ui_writable": true, "custom": true, "archived": false}
}

func (s *Server) listDataAttributes(w http.ResponseWriter, r *http.Request) {
	model := r.URL.Query().Get("model")
	if model == "conversation" {
		writeError(w, http.StatusUnprocessableEntity, "parameter_invalid", "Use GET /conversations/attributes", "model")
		return
	}
	s.mu.RLock()
	data := []map[string]any{}
	for _, a := range s.attrs {
		if model == "" || a.Model == model {
			data = append(data, attrJSON(a))
		}
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"type": "list", "data": data})
}

var dataTypes = map[string]bool{"string": true, "integer": true, "float": true, "boolean": true, "datetime": true, "date": true, "options": true}

func (s *Server) createDataAttribute(w http.ResponseWriter, r *http.Request) {
	var a dataAttribute
	if !readJSON(w, r, &a) {
		return
	}
	switch {
	case a.Name == "":
		writeError(w, http.StatusBadRequest, "parameter_not_found", "name is required", "name")
		return
	case a.Model != "contact" && a.Model != "company":
		writeError(w, http.StatusBadRequest, "parameter_invalid", "model must be contact or company", "model")
		return
	case !dataTypes[a.DataType]:
		writeError(w, http.StatusBadRequest, "parameter_invalid", "invalid data_type", "data_type")
		return
	case a.DataType == "options" && len(a.Options) < 2:
		writeError(w, http.StatusBadRequest, "parameter_invalid", "at least two options are required", "options")
		return
	}
	s.mu.Lock()
	for _, b := range s.attrs {
		if b.Name == a.Name && b.Model == a.Model {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "parameter_invalid", "You already have a '"+a.Name+"' in your workspace. Please choose a different name.", "name")
			return
		}
	}
	if a.DataType == "datetime" {
		a.DataType = "date"
	}
	a.ID = 1000 + s.seq.Add(1)
	s.attrs = append(s.attrs, a)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, attrJSON(a))
}

// replyConversation accepts an admin reply (POST /conversations/{id}/reply)
// and records it (see Server.Replies).
func (s *Server) replyConversation(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MessageType string `json:"message_type"`
		Type        string `json:"type"`
		AdminID     string `json:"admin_id"`
		Body        string `json:"body"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Type != "admin" || req.AdminID == "" || req.Body == "" || (req.MessageType != "comment" && req.MessageType != "note") {
		writeError(w, http.StatusBadRequest, "parameter_invalid", "message_type comment or note, type admin, admin_id and body are required", "")
		return
	}
	s.mu.RLock()
	_, adminOK := s.admins[req.AdminID]
	s.mu.RUnlock()
	if !adminOK {
		writeError(w, http.StatusNotFound, "admin_not_found", "Admin not found", "admin_id")
		return
	}
	now := s.cfg.now().UTC().Truncate(time.Second)
	rep := Reply{ConversationID: r.PathValue("id"), Reply: intercom.Reply{AdminID: req.AdminID, Body: req.Body, Note: req.MessageType == "note"}, CreatedAt: now}
	s.msgMu.Lock()
	s.replies = append(s.replies, rep)
	s.msgMu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"type": "conversation", "id": rep.ConversationID, "created_at": now.Unix(), "updated_at": now.Unix()})
}

// authorize is the OAuth consent endpoint: it approves at once and
// redirects to redirect_uri with a code and the state.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.cfg.clientID {
		http.Error(w, "intercomtest: unknown client_id", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() {
		http.Error(w, "intercomtest: redirect_uri must be an absolute URL", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	if s.denyOAuth.Load() {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user denied access")
	} else {
		code := fmt.Sprintf("code-%d", s.seq.Add(1))
		s.mu.Lock()
		s.codes[code] = true
		s.mu.Unlock()
		back.Set("code", code)
	}
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token is the OAuth token endpoint (POST /auth/eagle/token). It accepts a
// form or a JSON body with code, client_id and client_secret.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "POST only", "")
		return
	}
	var in struct {
		Code         string `json:"code"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if !readJSON(w, r, &in) {
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "parameter_invalid", "bad form", "")
			return
		}
		in.Code, in.ClientID, in.ClientSecret = r.PostForm.Get("code"), r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if id, secret, ok := r.BasicAuth(); ok {
			in.ClientID, in.ClientSecret = id, secret
		}
	}
	if in.ClientID != s.cfg.clientID || in.ClientSecret != s.cfg.clientSecret {
		writeError(w, http.StatusUnauthorized, "unauthorized", "invalid client credentials", "")
		return
	}
	s.mu.Lock()
	ok := s.codes[in.Code]
	delete(s.codes, in.Code)
	var tok string
	if ok {
		tok = fmt.Sprintf("oauth-token-%d", s.seq.Add(1))
		s.tokens[tok] = true
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_grant", "unknown or used code", "code")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "token": tok, "access_token": tok})
}
