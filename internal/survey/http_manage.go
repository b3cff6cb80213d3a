package survey

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// exportTimeout bounds one streamed export.
const exportTimeout = 30 * time.Minute

func queryInt(c *fiber.Ctx, name string, def, lo, hi int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, httpx.Invalid(httpx.FieldError{Field: name, Code: "invalid",
			Message: "a number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)})
	}
	return n, nil
}

func (h *Handler) list(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 100, 1, 500)
	if err != nil {
		return err
	}
	offset, err := queryInt(c, "offset", 0, 0, 1_000_000)
	if err != nil {
		return err
	}
	out, err := h.s.List(c.UserContext(), tenantOf(c), ListFilter{Archived: c.Query("archived") == "true", Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"surveys": out})
}

func (h *Handler) update(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var p Patch
	if err := httpx.DecodeJSON(c, &p); err != nil {
		return err
	}
	if p.Questions != nil {
		for i := range *p.Questions {
			(*p.Questions)[i].PromptKey = "" // catalogue prompts are for system surveys
		}
	}
	sv, err := h.s.Update(c.UserContext(), tenantOf(c), id, p)
	if err != nil {
		return problem(err)
	}
	return c.JSON(sv)
}

func (h *Handler) delete(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	deleted, err := h.s.Delete(c.UserContext(), tenantOf(c), id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"deleted": deleted, "archived": !deleted})
}

func (h *Handler) runs(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 100, 1, 500)
	if err != nil {
		return err
	}
	out, err := h.s.Runs(c.UserContext(), tenantOf(c), id, limit)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"runs": out})
}

func (h *Handler) getRun(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	run, err := h.s.GetRun(c.UserContext(), tenantOf(c), id)
	if err != nil {
		return problem(err)
	}
	st, err := h.s.Stats(c.UserContext(), tenantOf(c), run.SurveyID, &run.ID)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"run": run, "stats": st})
}

func (h *Handler) closeRun(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := h.s.CloseRun(c.UserContext(), tenantOf(c), id); err != nil {
		return problem(err)
	}
	run, err := h.s.GetRun(c.UserContext(), tenantOf(c), id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(run)
}

func (h *Handler) nps(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	periods, err := queryInt(c, "periods", 12, 1, 120)
	if err != nil {
		return err
	}
	rep, err := h.s.NPS(c.UserContext(), tenantOf(c), id, periods)
	if err != nil {
		return problem(err)
	}
	return c.JSON(rep)
}

func (h *Handler) export(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	run, err := runQuery(c)
	if err != nil {
		return err
	}
	format := c.Query("format", FormatCSV)
	var ctype string
	switch format {
	case FormatCSV:
		ctype = "text/csv; charset=utf-8"
	case FormatXLSX:
		ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	default:
		return httpx.Invalid(httpx.FieldError{Field: "format", Code: "invalid", Message: "csv or xlsx"})
	}
	tenant := tenantOf(c)
	if err := h.s.CheckExport(c.UserContext(), tenant, id, run); err != nil {
		return problem(err)
	}
	name := "survey-" + id.String()
	if run != nil {
		name += "-run-" + run.String()
	}
	c.Set(fiber.HeaderContentType, ctype)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+"."+format+`"`)
	// The body is produced after the handler returns, as the client reads
	// it; the request's fiber context must not be touched in there.
	log := h.s.log
	httpx.StreamBody(c, httpx.StreamIdle, func(w io.Writer) error {
		ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
		defer cancel()
		return h.s.Export(ctx, tenant, id, run, format, w)
	}, func(err error) {
		log.Warn("survey: export failed mid-stream", "tenant_id", tenant, "survey_id", id, "error", err)
	})
	return nil
}

func (h *Handler) getSchedule(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	sc, err := h.s.GetSchedule(c.UserContext(), tenantOf(c), id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(sc)
}

func (h *Handler) setSchedule(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var d ScheduleDef
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	sc, err := h.s.SetSchedule(c.UserContext(), tenantOf(c), id, d)
	if err != nil {
		return problem(err)
	}
	return c.JSON(sc)
}

func (h *Handler) deleteSchedule(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := h.s.DeleteSchedule(c.UserContext(), tenantOf(c), id); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
