package moodletest

import "net/mail"

// core_user_create_users and core_user_update_users, as Moodle 4.5's core_user_external
// validates and applies them (the fields the hub's integrations use).

func createUsersFn() function {
	return function{
		params: single(field{"users", list(single(
			field{"createpassword", optional(paramInt)},
			field{"username", val(paramRaw)},
			field{"auth", withDefault(paramPlugin, "manual")},
			field{"password", optional(paramRaw)},
			field{"firstname", val(paramText)},
			field{"lastname", val(paramText)},
			field{"email", val(paramRaw)},
			field{"city", optional(paramText)},
			field{"country", optional(paramAlpha)},
			field{"idnumber", withDefault(paramRaw, "")},
			field{"lang", optional(paramSafedir)},
			field{"institution", optional(paramText)},
			field{"department", optional(paramText)},
		))}),
		write: true,
		run:   func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.createUsers(p) },
	}
}

func updateUsersFn() function {
	return function{
		params: single(field{"users", list(single(
			field{"id", val(paramInt)},
			field{"username", optional(paramRaw)},
			field{"auth", optional(paramPlugin)},
			field{"suspended", optional(paramInt)},
			field{"password", optional(paramRaw)},
			field{"firstname", optional(paramText)},
			field{"lastname", optional(paramText)},
			field{"email", optional(paramRaw)},
			field{"city", optional(paramText)},
			field{"country", optional(paramAlpha)},
			field{"idnumber", optional(paramRaw)},
			field{"institution", optional(paramText)},
			field{"department", optional(paramText)},
		))}),
		write: true,
		run:   func(s *Server, _ *caller, p map[string]any) (any, *Exception) { return s.updateUsers(p) },
	}
}

// createUsers creates every user or none: Moodle runs the call in one transaction and throws
// invalid_parameter_exception at the first bad user.
func (s *Server) createUsers(p map[string]any) (any, *Exception) {
	st := s.st
	var news []User
	seen := map[string]bool{}
	for _, u := range items(p["users"]) {
		username, _ := str(u, "username")
		clean := cleanUsername(username, s.opts.ExtendedUsernameChars)
		if clean != username {
			return nil, invalidParameter("The username can only contain alphanumeric lowercase characters (letters and numbers), underscore (_), hyphen (-), period (.) or at symbol (@).")
		}
		if _, dup := st.usersByName[username]; dup || seen[username] {
			return nil, invalidParameter("Username already exists: " + username)
		}
		seen[username] = true
		email, _ := str(u, "email")
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			return nil, invalidParameter("Email address is invalid: " + email)
		}
		pw, _ := str(u, "password")
		create, _ := num(u, "createpassword")
		if pw == "" && create == 0 {
			return nil, invalidParameter("Invalid password: you must provide a password, or set createpassword.")
		}
		nu := User{Username: username, Email: email}
		nu.FirstName, _ = str(u, "firstname")
		nu.LastName, _ = str(u, "lastname")
		nu.Auth, _ = str(u, "auth")
		nu.IDNumber, _ = str(u, "idnumber")
		nu.City, _ = str(u, "city")
		nu.Country, _ = str(u, "country")
		nu.Lang, _ = str(u, "lang")
		nu.Institution, _ = str(u, "institution")
		nu.Department, _ = str(u, "department")
		news = append(news, nu)
	}
	out := make([]map[string]any, 0, len(news))
	for _, nu := range news {
		id, err := st.addUser(nu)
		if err != nil {
			return nil, moodleException("dmlwriteexception", err.Error())
		}
		out = append(out, map[string]any{"id": id, "username": nu.Username})
	}
	return out, nil
}

// updateUsers changes the given fields; an unknown id is a warning, not an exception.
func (s *Server) updateUsers(p map[string]any) (any, *Exception) {
	st := s.st
	warnings := []map[string]any{}
	for _, u := range items(p["users"]) {
		id, _ := num(u, "id")
		cur, ok := st.users[id]
		if !ok {
			warnings = append(warnings, map[string]any{"item": "user", "itemid": id, "warningcode": "invaliduserid", "message": "Invalid user ID"})
			continue
		}
		if name, ok := str(u, "username"); ok && name != cur.Username {
			if cleanUsername(name, s.opts.ExtendedUsernameChars) != name {
				return nil, invalidParameter("The username can only contain alphanumeric lowercase characters (letters and numbers), underscore (_), hyphen (-), period (.) or at symbol (@).")
			}
			if _, dup := st.usersByName[name]; dup {
				return nil, invalidParameter("Username already exists: " + name)
			}
			delete(st.usersByName, cur.Username)
			cur.Username = name
			st.usersByName[name] = id
		}
		if email, ok := str(u, "email"); ok && email != cur.Email {
			if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
				return nil, invalidParameter("Email address is invalid: " + email)
			}
			st.usersByEmail[cur.Email] = removeID(st.usersByEmail[cur.Email], id)
			cur.Email = email
			st.usersByEmail[email] = append(st.usersByEmail[email], id)
		}
		if v, ok := num(u, "suspended"); ok {
			cur.Suspended = v != 0
		}
		for k, dst := range map[string]*string{"firstname": &cur.FirstName, "lastname": &cur.LastName, "auth": &cur.Auth,
			"city": &cur.City, "country": &cur.Country, "institution": &cur.Institution, "department": &cur.Department} {
			if v, ok := str(u, k); ok {
				*dst = v
			}
		}
		if v, ok := str(u, "idnumber"); ok && v != cur.IDNumber {
			st.usersByIDNumber[cur.IDNumber] = removeID(st.usersByIDNumber[cur.IDNumber], id)
			cur.IDNumber = v
			st.usersByIDNumber[v] = append(st.usersByIDNumber[v], id)
		}
	}
	return map[string]any{"warnings": warnings}, nil
}

func removeID(ids []int64, id int64) []int64 {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}
