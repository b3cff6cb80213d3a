package app_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// matrixRow is one row of docs/permissions.md.
type matrixRow struct {
	Method, Path string
	Allowed      map[string]bool // owner, admin, agent, operator
}

var (
	rowRe    = regexp.MustCompile(`^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*(/\S+)\s*\|\s*(yes|no)\s*\|\s*(yes|no)\s*\|\s*(yes|no)\s*\|\s*(yes|no)\s*\|\s*$`)
	publicRe = regexp.MustCompile("`(GET|POST|PUT|PATCH|DELETE) (/[^`]+)`")
)

var roles = []string{"owner", "admin", "agent", "operator"}

// readMatrix parses the permission matrix and the public routes named in
// its introduction.
func readMatrix(t *testing.T) (rows []matrixRow, public map[string]bool) {
	t.Helper()
	f, err := os.Open("../../docs/permissions.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	public = map[string]bool{}
	inTables := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inTables = true
		}
		if !inTables {
			for _, m := range publicRe.FindAllStringSubmatch(line, -1) {
				public[m[1]+" "+m[2]] = true
			}
			continue
		}
		m := rowRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := matrixRow{Method: m[1], Path: m[2], Allowed: map[string]bool{}}
		for i, role := range roles {
			r.Allowed[role] = m[3+i] == "yes"
		}
		rows = append(rows, r)
	}
	if len(rows) < 10 {
		t.Fatalf("parsed only %d rows from docs/permissions.md", len(rows))
	}
	return rows, public
}

// fillParams replaces :params with ids that exist nowhere.
func fillParams(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = ids.New().String()
		}
	}
	return strings.Join(parts, "/")
}

// Every row of docs/permissions.md is a test case: "yes" roles get past
// authorization (no 401/403), "no" roles get 403.
func TestPermissionMatrix(t *testing.T) {
	p := newPlatform(t)
	tm := p.newTeam(t, "Matrix Co")
	op := p.operator(t)
	creds := map[string]member{"owner": tm.Owner, "admin": tm.Admin, "agent": tm.Agent, "operator": op}
	rows, _ := readMatrix(t)
	for _, row := range rows {
		t.Run(row.Method+" "+row.Path, func(t *testing.T) {
			for _, role := range roles {
				// A fresh session per call: some rows (logout, password
				// change) end the session they are called with.
				m := p.login(t, creds[role].Email, creds[role].Password)
				code := p.call(t, row.Method, fillParams(row.Path), m.Token, map[string]any{}, nil)
				denied := code == 401 || code == 403
				if row.Allowed[role] && denied {
					t.Errorf("%s: got %d, the matrix says allowed", role, code)
				}
				if !row.Allowed[role] && code != 403 {
					t.Errorf("%s: got %d, the matrix says 403", role, code)
				}
			}
		})
	}
}

// Every /api/v1 and /ops route of the real app is either in the matrix or
// named public, and every matrix row exists in the app.
func TestMatrixCoversRouteTable(t *testing.T) {
	p := newPlatform(t)
	rows, public := readMatrix(t)
	inMatrix := map[string]bool{}
	for _, r := range rows {
		inMatrix[r.Method+" "+r.Path] = true
	}
	inApp := map[string]bool{}
	for _, r := range p.HTTP.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || !(strings.HasPrefix(r.Path, "/api/v1/") || strings.HasPrefix(r.Path, "/ops/")) {
			continue
		}
		key := r.Method + " " + r.Path
		inApp[key] = true
		if !inMatrix[key] && !public[key] {
			t.Errorf("route %s is neither in docs/permissions.md nor listed as public there", key)
		}
	}
	for key := range inMatrix {
		if !inApp[key] {
			t.Errorf("docs/permissions.md lists %s, which the app does not serve", key)
		}
	}
}
